using EdgeTvq.Runtime.Tests.Zoo;

namespace EdgeTvq.Runtime.Tests.Device;

/// <summary>serve's --button, --led and --telemetry on the command line: a missing device stops the start with its name.</summary>
[Collection(ZooBundleCollection.Name)]
public class ServeDeviceOptionTests(ZooBundle zb)
{
    private static (int Code, string Out, string Err) Serve(params string[] args)
    {
        lock (typeof(Console))
        {
            var (oldIn, oldOut, oldErr) = (Console.In, Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetIn(new StringReader(""));
            Console.SetOut(o);
            Console.SetError(e);
            try { return (EdgeTvq.Runtime.Program.Main(["serve", .. args, "--allow-unsigned"]), o.ToString(), e.ToString()); }
            finally { Console.SetIn(oldIn); Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    [Fact]
    public void A_missing_chip_or_sysfs_is_a_start_up_error_naming_it()
    {
        var (code, output, err) = Serve("--bundle", zb.Bundle, "--model", zb.Model, "--button", "gpiochip977:17", "--listen", "http://127.0.0.1:0");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --button gpiochip977:17: /dev/gpiochip977 does not exist (", err);
        Assert.DoesNotContain("listening", output);

        (code, _, err) = Serve("--bundle", zb.Bundle, "--model", zb.Model, "--led", "gpiochip977:27", "--listen", "http://127.0.0.1:0");
        Assert.Equal(1, code);
        Assert.StartsWith("error: --led gpiochip977:27: /dev/gpiochip977 does not exist", err);

        var empty = Directory.CreateTempSubdirectory("edgetvq-sysfs-").FullName;
        try
        {
            (code, _, err) = Serve("--bundle", zb.Bundle, "--model", zb.Model, "--telemetry", "--sysfs-root", empty, "--listen", "http://127.0.0.1:0");
            Assert.Equal(1, code);
            Assert.StartsWith($"error: --telemetry: no thermal zone (thermal_zone*/temp) under {empty}/class/thermal", err);
        }
        finally { Directory.Delete(empty, recursive: true); }

        (code, _, err) = Serve("--bundle", zb.Bundle, "--model", zb.Model, "--button", "17");
        Assert.Equal(2, code);
        Assert.Contains("--button '17': give CHIP:LINE", err);
        (code, _, err) = Serve("--bundle", zb.Bundle, "--model", zb.Model, "--stdin", "--telemetry");
        Assert.Equal(2, code);
        Assert.Contains("not to --stdin", err);
    }
}
