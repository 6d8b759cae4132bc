using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Packer;

/// <summary><c>pack --group</c> and <c>--scheme bitdelta</c> end to end through the CLI, on safetensors files.</summary>
public class GroupCliTests
{
    private static (int Code, string Out, string Err) Capture(params string[] args)
    {
        lock (typeof(Console))
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try { return (EdgeTvq.Packer.Program.Main(args), o.ToString(), e.ToString()); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    private static string[] Pack(TempDir dir, string output, params string[] extra)
    {
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 9, withHead: false);
        void Write(MemorySource s, string file) => Checkpoints.SafetensorsWriter.WriteFloat32(dir[file], s.Data.Select(kv => (kv.Key, kv.Value.Shape, kv.Value.Values)));
        Write(pre, "pre.safetensors");
        Write(tasks[0], "a.safetensors");
        Write(tasks[1], "b.safetensors");
        return ["pack", "--pretrained", dir["pre.safetensors"], "--task", $"a={dir["a.safetensors"]}", "--task", $"b={dir["b.safetensors"]}", .. extra, "--out", dir[output]];
    }

    [Fact]
    public void Pack_group_and_bitdelta_write_version_4_bundles_that_verify_and_inspect_shows_the_grouping()
    {
        using var dir = new TempDir();
        var (code, _, err) = Capture(Pack(dir, "g", "--scheme", "tvq", "--bits", "2", "--group", "16"));
        Assert.True(code == 0, err);
        Assert.Equal(0, Capture("verify", dir["g"]).Code);
        Assert.Equal(0, Capture("inspect", dir["g"], "--tensors").Code); // the text report (Spectre.Console, not captured here)
        var (_, json, _) = Capture("inspect", dir["g"], "--json");
        Assert.Contains("\"grouping\": \"16\"", json);
        Assert.Contains("\"groupMode\": \"affine\"", json);
        Assert.Contains("\"group\": \"G16\"", json);

        (code, _, err) = Capture(Pack(dir, "bd", "--scheme", "bitdelta"));
        Assert.True(code == 0, err);
        Assert.Contains("\"groupMode\": \"sign\"", File.ReadAllText(Path.Combine(dir["bd"], "manifest.json")));
        Assert.Equal(0, Capture("verify", dir["bd"]).Code);
        (_, json, _) = Capture("inspect", dir["bd"], "--json");
        Assert.Contains("\"grouping\": \"row\"", json);
        Assert.Contains("\"groupMode\": \"sign\"", json);
    }

    [Theory]
    [InlineData("--group 0", "--group must be 'row' or a positive number")]
    [InlineData("--group row --quantizer reference", "default quantizer")]
    [InlineData("--scheme bitdelta --bits 2", "bitdelta")]
    public void Bad_group_options_are_refused_with_the_option_named(string options, string expected)
    {
        using var dir = new TempDir();
        var args = options.Split(' ');
        var full = args.Contains("--scheme") ? Pack(dir, "x", args) : Pack(dir, "x", ["--scheme", "tvq", "--bits", "2", .. args]);
        var (code, output, err) = Capture(full);
        Assert.NotEqual(0, code);
        Assert.Contains(expected, output + err);
        Assert.False(Directory.Exists(dir["x"]) && Directory.EnumerateFileSystemEntries(dir["x"]).Any());
    }
}
