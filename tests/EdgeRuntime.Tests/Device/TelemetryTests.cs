using System.Net;
using System.Text.Json;
using EdgeTvq.Runtime.Device;
using EdgeTvq.Runtime.Tests.Http;
using EdgeTvq.Runtime.Tests.Zoo;

namespace EdgeTvq.Runtime.Tests.Device;

/// <summary>A sysfs tree in a temp folder: thermal zones and INA3221 hwmon channels as a Jetson Orin shows them.</summary>
public sealed class FakeSysfs : IDisposable
{
    public string Root { get; } = Path.Combine(Path.GetTempPath(), "edgetvq-sysfs-" + Guid.NewGuid().ToString("N")[..10]);

    public FakeSysfs(bool populate = true)
    {
        Directory.CreateDirectory(Root);
        if (!populate) return;
        Zone(0, "cpu-thermal", "45500\n");
        Zone(1, "gpu-thermal", "-1250\n");
        Write("class/thermal/thermal_zone2/type", "tj-thermal\n"); // no temp: not a zone we read
        Zone(3, "soc0-thermal", "not a number\n"); // answers garbage: left out
        Write("class/thermal/cooling_device0/type", "pwm-fan\n");
        // sysfs' entries are links to the device folders.
        Write("devices/virtual/thermal/thermal_zone10/type", "cv0-thermal\n");
        Write("devices/virtual/thermal/thermal_zone10/temp", "38000\n");
        File.CreateSymbolicLink(Path.Combine(Root, "class/thermal/thermal_zone10"), Path.Combine(Root, "devices/virtual/thermal/thermal_zone10"));
        Write("class/hwmon/hwmon0/name", "nvme\n");
        Write("class/hwmon/hwmon0/temp1_input", "40000\n");
        Write("class/hwmon/hwmon1/name", "ina3221\n");
        Write("class/hwmon/hwmon1/in1_label", "VDD_IN\n");
        Write("class/hwmon/hwmon1/in1_input", "5072\n");
        Write("class/hwmon/hwmon1/curr1_input", "1232\n");
        Write("class/hwmon/hwmon1/in2_label", "VDD_CPU_GPU_CV\n");
        Write("class/hwmon/hwmon1/in2_input", "5064\n");
        Write("class/hwmon/hwmon1/curr2_input", "400\n");
        Write("class/hwmon/hwmon1/in3_input", "5000\n"); // no label, no current
        Write("class/hwmon/hwmon1/in4_input", "12000\n"); // shunt voltage (µV): not a rail
        Write("class/hwmon/hwmon2/name", "ina3221\n");
        Write("class/hwmon/hwmon2/in1_label", "VDD_SOC\n");
        Write("class/hwmon/hwmon2/in1_input", "5000\n");
        Write("class/hwmon/hwmon2/curr1_input", "600\n");
        Write("class/hwmon/hwmon2/power1_input", "2999000\n"); // µW, where a driver has it
    }

    public void Zone(int n, string type, string temp)
    {
        Write($"class/thermal/thermal_zone{n}/type", type);
        Write($"class/thermal/thermal_zone{n}/temp", temp);
    }

    public void Write(string relative, string text)
    {
        var path = Path.Combine(Root, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }
}

public class TelemetryTests
{
    [Fact]
    public void Thermal_zones_and_ina3221_rails_are_read_in_base_units_with_their_labels()
    {
        using var fs = new FakeSysfs();
        var t = SysfsTelemetry.Open(fs.Root);
        Assert.Equal(4, t.ZoneCount); // 0, 1, 3, 10 (2 has no temp)
        Assert.Equal(4, t.RailCount); // hwmon1: 1, 2, 3; hwmon2: 1
        var r = t.Read();
        Assert.Equal([("cpu-thermal", "thermal_zone0", 45.5), ("gpu-thermal", "thermal_zone1", -1.25), ("cv0-thermal", "thermal_zone10", 38.0)],
            r.Thermal.Select(z => (z.Zone, z.Sensor, z.Celsius)));
        Assert.Equal(4, r.Rails.Count);
        var vin = r.Rails[0];
        Assert.Equal(("VDD_IN", "hwmon1", 1), (vin.Rail, vin.Sensor, vin.Channel));
        Assert.Equal(5.072, vin.Volts!.Value, 12);
        Assert.Equal(1.232, vin.Amperes!.Value, 12);
        Assert.Equal(5.072 * 1.232, vin.Watts!.Value, 12); // no power attribute: V × I
        Assert.Equal("VDD_CPU_GPU_CV", r.Rails[1].Rail);
        var unlabeled = r.Rails[2];
        Assert.Equal(("channel3", 5.0), (unlabeled.Rail, unlabeled.Volts!.Value));
        Assert.Null(unlabeled.Amperes);
        Assert.Null(unlabeled.Watts);
        var soc = r.Rails[3];
        Assert.Equal(("VDD_SOC", "hwmon2", 1), (soc.Rail, soc.Sensor, soc.Channel));
        Assert.Equal(2.999, soc.Watts!.Value, 12); // the driver's power attribute wins over V × I (3.0)
    }

    [Fact]
    public void A_file_that_goes_missing_or_answers_garbage_later_is_left_out_of_that_reading()
    {
        using var fs = new FakeSysfs();
        var t = SysfsTelemetry.Open(fs.Root);
        File.Delete(Path.Combine(fs.Root, "class/hwmon/hwmon1/curr1_input"));
        Directory.Delete(Path.Combine(fs.Root, "class/thermal/thermal_zone1"), recursive: true);
        fs.Write("class/hwmon/hwmon1/in2_input", "");
        fs.Write("class/hwmon/hwmon1/curr2_input", "");
        var r = t.Read();
        Assert.Equal(["cpu-thermal", "cv0-thermal"], r.Thermal.Select(z => z.Zone));
        var vin = r.Rails.Single(x => x.Rail == "VDD_IN");
        Assert.Equal(5.072, vin.Volts!.Value, 12);
        Assert.Null(vin.Amperes);
        Assert.Null(vin.Watts);
        Assert.DoesNotContain(r.Rails, x => x.Rail == "VDD_CPU_GPU_CV"); // nothing readable: the rail is left out
        // A zone without a type file is named by its folder.
        File.Delete(Path.Combine(fs.Root, "class/thermal/thermal_zone0/type"));
        Assert.Equal("thermal_zone0", t.Read().Thermal[0].Zone);
    }

    [Fact]
    public void No_zone_and_no_rail_is_a_start_up_error_naming_both_folders()
    {
        using var fs = new FakeSysfs(populate: false);
        fs.Write("class/hwmon/hwmon0/name", "nvme\n");
        var e = Assert.Throws<IOException>(() => SysfsTelemetry.Open(fs.Root));
        Assert.Contains("--telemetry: no thermal zone", e.Message);
        Assert.Contains(Path.Combine(fs.Root, "class", "thermal"), e.Message);
        Assert.Contains("ina3221", e.Message);
        Assert.Contains(Path.Combine(fs.Root, "class", "hwmon"), e.Message);
        Assert.Contains("--sysfs-root " + fs.Root, e.Message);
    }

    [Fact]
    public void Rails_alone_or_zones_alone_are_enough()
    {
        using var zones = new FakeSysfs(populate: false);
        zones.Zone(0, "cpu-thermal", "50000");
        Assert.Equal((1, 0), (SysfsTelemetry.Open(zones.Root).ZoneCount, SysfsTelemetry.Open(zones.Root).RailCount));
        using var rails = new FakeSysfs(populate: false);
        rails.Write("class/hwmon/hwmon3/name", "ina3221");
        rails.Write("class/hwmon/hwmon3/curr2_input", "100");
        var t = SysfsTelemetry.Open(rails.Root);
        Assert.Equal((0, 1), (t.ZoneCount, t.RailCount));
        Assert.Equal(("channel2", 0.1), (t.Read().Rails[0].Rail, t.Read().Rails[0].Amperes!.Value));
    }
}

/// <summary>--telemetry's readings in GET /metrics and GET /v2 of the running service.</summary>
[Collection(ZooBundleCollection.Name)]
public class TelemetryServiceTests(ZooBundle zb)
{
    [Fact]
    public async Task Metrics_and_server_metadata_carry_the_readings()
    {
        using var fs = new FakeSysfs();
        var telemetry = SysfsTelemetry.Open(fs.Root);
        await using var s = await Served.StartAsync(zb, configure: c => c with { Telemetry = telemetry });
        var metrics = await s.Unix.GetStringAsync("/metrics");
        Assert.Contains("# TYPE edgetvq_thermal_zone_celsius gauge\n", metrics);
        Assert.Contains("edgetvq_thermal_zone_celsius{zone=\"cpu-thermal\",sensor=\"thermal_zone0\"} 45.5\n", metrics);
        Assert.Contains("edgetvq_thermal_zone_celsius{zone=\"gpu-thermal\",sensor=\"thermal_zone1\"} -1.25\n", metrics);
        Assert.Contains("edgetvq_rail_voltage_volts{rail=\"VDD_IN\",sensor=\"hwmon1\",channel=\"1\"} 5.072\n", metrics);
        Assert.Contains("edgetvq_rail_current_amperes{rail=\"VDD_IN\",sensor=\"hwmon1\",channel=\"1\"} 1.232\n", metrics);
        Assert.Contains("edgetvq_rail_power_watts{rail=\"VDD_SOC\",sensor=\"hwmon2\",channel=\"1\"} 2.999\n", metrics);
        Assert.DoesNotContain("edgetvq_rail_current_amperes{rail=\"channel3\"", metrics);
        Assert.Contains("edgetvq_rail_voltage_volts{rail=\"channel3\",sensor=\"hwmon1\",channel=\"3\"} 5\n", metrics);

        // Read at every request: a new temperature shows at once.
        fs.Zone(0, "cpu-thermal", "51000");
        Assert.Contains("edgetvq_thermal_zone_celsius{zone=\"cpu-thermal\",sensor=\"thermal_zone0\"} 51\n", await s.Tcp.GetStringAsync("/metrics"));

        using var doc = JsonDocument.Parse(await s.Tcp.GetStringAsync("/v2"));
        var p = doc.RootElement.GetProperty("parameters");
        var zone = p.GetProperty("thermal_zones")[0];
        Assert.Equal(("cpu-thermal", "thermal_zone0", 51.0), (zone.GetProperty("zone").GetString(), zone.GetProperty("sensor").GetString(), zone.GetProperty("celsius").GetDouble()));
        var rails = p.GetProperty("power_rails").EnumerateArray().ToList();
        Assert.Equal(4, rails.Count);
        Assert.Equal(("VDD_IN", 1, 5.072, 1.232), (rails[0].GetProperty("rail").GetString(), rails[0].GetProperty("channel").GetInt32(),
            rails[0].GetProperty("volts").GetDouble(), rails[0].GetProperty("amperes").GetDouble()));
        Assert.False(rails[2].TryGetProperty("amperes", out _)); // unreadable values are absent, not 0
    }

    [Fact]
    public async Task Without_telemetry_there_are_no_device_gauges_and_no_server_parameters()
    {
        await using var s = await Served.StartAsync(zb);
        Assert.DoesNotContain("thermal", await s.Unix.GetStringAsync("/metrics"));
        var response = await s.Unix.GetAsync("/v2");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(doc.RootElement.TryGetProperty("parameters", out _));
    }
}
