using System.Globalization;

namespace EdgeTvq.Runtime.Device;

/// <summary>One thermal zone's temperature: <c>zone</c> is its <c>type</c> (cpu-thermal, …), <c>sensor</c> its folder.</summary>
public sealed record ThermalReading(string Zone, string Sensor, double Celsius);

/// <summary>
/// One INA3221 channel: <c>rail</c> is its <c>in*_label</c> (VDD_IN, …), <c>sensor</c> the hwmon folder, each value
/// null when it could not be read (a disabled channel answers ENODATA).
/// </summary>
public sealed record RailReading(string Rail, string Sensor, int Channel, double? Volts, double? Amperes, double? Watts);

public sealed record TelemetrySnapshot(IReadOnlyList<ThermalReading> Thermal, IReadOnlyList<RailReading> Rails);

/// <summary>
/// <c>edgetvq serve --telemetry</c>: board temperatures and power rails read from sysfs at every /metrics or /v2
/// request (a few small files; nothing is polled in between).
/// <list type="bullet">
/// <item>Thermal zones: <c>ROOT/class/thermal/thermal_zone*/type</c> and <c>temp</c> (millidegrees Celsius).</item>
/// <item>INA3221 power monitors through the kernel's hwmon driver (<c>ROOT/class/hwmon/hwmon*/name</c> is
/// <c>ina3221</c>, as on Jetson Orin boards): per channel 1–3 <c>in{N}_label</c>, <c>in{N}_input</c> (bus voltage, mV),
/// <c>curr{N}_input</c> (mA) and, where a driver provides it, <c>power{N}_input</c> (µW, the hwmon unit); the mainline
/// driver has no power attribute, so power is then bus voltage × current.</item>
/// </list>
/// The zones and channels are found once, at start; a value that cannot be read later (a zone that answers an error, a
/// file gone) is left out of that answer rather than failing it.
/// </summary>
public sealed class SysfsTelemetry
{
    public const string DefaultRoot = "/sys";

    private readonly List<(string Dir, string Sensor)> _zones = [];
    private readonly List<(string Dir, string Sensor, int Channel)> _channels = [];

    public string Root { get; }
    public int ZoneCount => _zones.Count;
    public int RailCount => _channels.Count;

    private SysfsTelemetry(string root) => Root = root;

    /// <summary>Finds the zones and rails under <paramref name="root"/>; none at all is an error naming where it looked.</summary>
    public static SysfsTelemetry Open(string root = DefaultRoot)
    {
        var t = new SysfsTelemetry(root);
        string thermal = Path.Combine(root, "class", "thermal"), hwmon = Path.Combine(root, "class", "hwmon");
        foreach (var dir in Folders(thermal, "thermal_zone"))
            if (File.Exists(Path.Combine(dir, "temp"))) t._zones.Add((dir, Path.GetFileName(dir)));
        foreach (var dir in Folders(hwmon, "hwmon"))
        {
            if (ReadText(Path.Combine(dir, "name")) != "ina3221") continue;
            for (int c = 1; c <= 3; c++)
                if (File.Exists(Path.Combine(dir, $"in{c}_input")) || File.Exists(Path.Combine(dir, $"curr{c}_input")))
                    t._channels.Add((dir, Path.GetFileName(dir), c));
        }
        if (t._zones.Count == 0 && t._channels.Count == 0)
            throw new IOException($"--telemetry: no thermal zone (thermal_zone*/temp) under {thermal} and no ina3221 rail (hwmon*/name) under {hwmon}" +
                                  (root == DefaultRoot ? "" : " (--sysfs-root " + root + ")"));
        return t;
    }

    /// <summary>The folders PREFIX0, PREFIX1, … of <paramref name="dir"/> (links to folders included, as sysfs has them), in number order.</summary>
    private static IEnumerable<string> Folders(string dir, string prefix)
    {
        if (!Directory.Exists(dir)) return [];
        try
        {
            return Directory.EnumerateDirectories(dir, prefix + "*")
                .Select(d => (Dir: d, N: int.TryParse(Path.GetFileName(d).AsSpan(prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1))
                .Where(e => e.N >= 0).OrderBy(e => e.N).Select(e => e.Dir).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return []; }
    }

    public TelemetrySnapshot Read()
    {
        var thermal = new List<ThermalReading>(_zones.Count);
        foreach (var (dir, sensor) in _zones)
            if (ReadInteger(Path.Combine(dir, "temp")) is { } milli)
                thermal.Add(new ThermalReading(ReadText(Path.Combine(dir, "type")) is { Length: > 0 } type ? type : sensor, sensor, milli / 1000.0));
        var rails = new List<RailReading>(_channels.Count);
        foreach (var (dir, sensor, c) in _channels)
        {
            double? volts = ReadInteger(Path.Combine(dir, $"in{c}_input")) / 1000.0;
            double? amperes = ReadInteger(Path.Combine(dir, $"curr{c}_input")) / 1000.0;
            double? watts = ReadInteger(Path.Combine(dir, $"power{c}_input")) / 1e6 ?? volts * amperes;
            if (volts is null && amperes is null && watts is null) continue;
            string rail = ReadText(Path.Combine(dir, $"in{c}_label")) is { Length: > 0 } label ? label : $"channel{c}";
            rails.Add(new RailReading(rail, sensor, c, volts, amperes, watts));
        }
        return new TelemetrySnapshot(thermal, rails);
    }

    /// <summary>A file's text, trimmed; null when it is missing or cannot be read (sysfs answers EIO, ENODATA, EAGAIN…).</summary>
    internal static string? ReadText(string path)
    {
        try { return File.ReadAllText(path).Trim(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>A file holding one decimal integer (sysfs style), or null.</summary>
    internal static long? ReadInteger(string path) =>
        long.TryParse(ReadText(path), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var v) ? v : null;
}
