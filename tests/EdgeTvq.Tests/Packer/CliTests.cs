using System.Text.Json;
using EdgeTvq.Checkpoints;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Packer;

/// <summary>The edgetvq-pack commands end to end on PyTorch-written files: exit codes, outputs, errors.</summary>
[Collection(AuthorsReferenceCollection.Name)]
public class CliTests(AuthorsReferenceFixture fx)
{
    private static int Cli(params string[] args) => EdgeTvq.Packer.Program.Main(args);

    private static (int Code, string Out, string Err) Capture(params string[] args)
    {
        lock (typeof(Console))
        {
            var (oldOut, oldErr) = (Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetOut(o);
            Console.SetError(e);
            try { return (Cli(args), o.ToString(), e.ToString()); }
            finally { Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    private string[] Pack(TempDir dir, params string[] extra) =>
        ["pack", "--pretrained", fx["pre.pt"], "--task", $"a={fx["t0.pt"]}", "--task", $"b={fx["t1.pt"]}", .. extra, "--out", dir["b"]];

    [Fact]
    public void Inspect_json_reports_paper_and_stored_bits_error_and_sparsity()
    {
        using var dir = new TempDir();
        File.WriteAllText(dir["a.json"], """{"labels": ["zero", "one"], "preprocessing": {"mean": 0.5}, "dataset": "demo"}""");
        Assert.Equal(0, Cli(Pack(dir, "--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2", "--task-metadata", $"a={dir["a.json"]}")));
        var (code, json, _) = Capture("inspect", dir["b"], "--json");
        Assert.Equal(0, code);
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        Assert.Equal("rtvq", r.GetProperty("scheme").GetString());
        Assert.Equal(2 + 3 / 2.0, r.GetProperty("paperBitsPerParameter").GetDouble());
        double stored = r.GetProperty("storedBitsPerQuantizedParameter").GetDouble();
        Assert.InRange(stored, 3.5, 3.5 * 1.5); // small tensors: per-record headers are visible
        var tasks = r.GetProperty("tasks").EnumerateArray().ToList();
        Assert.Equal(["a", "b"], tasks.Select(t => t.GetProperty("name").GetString()));
        Assert.Equal(2, tasks[0].GetProperty("labelCount").GetInt32());
        Assert.True(tasks[0].GetProperty("quantizationError").GetDouble() > 0);
        Assert.InRange(tasks[0].GetProperty("sparsityAfter").GetDouble(), 0.0, 1.0);
    }

    [Fact]
    public void Pack_with_a_budget_fits_it_and_inspect_shows_the_allocation()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Cli(Pack(dir, "--scheme", "tvq", "--bits", "3")));
        var (_, json, _) = Capture("inspect", dir["b"], "--json");
        double uniformBits;
        using (var doc = JsonDocument.Parse(json)) uniformBits = doc.RootElement.GetProperty("storedBitsPerParameter").GetDouble();
        Directory.Delete(dir["b"], recursive: true);

        File.WriteAllText(dir["w.json"], """{"no.such.tensor": 2.5}""");
        var (code, _, err) = Capture(Pack(dir, "--scheme", "rtvq", "--budget", uniformBits.ToString("R", System.Globalization.CultureInfo.InvariantCulture), "--sensitivity", dir["w.json"]));
        Assert.True(code == 0, err);
        (code, json, _) = Capture("inspect", dir["b"], "--json");
        Assert.Equal(0, code);
        using (var doc = JsonDocument.Parse(json))
        {
            var r = doc.RootElement;
            Assert.True(r.GetProperty("perTensorWidths").GetBoolean());
            Assert.True(r.GetProperty("storedBitsPerParameter").GetDouble() <= uniformBits);
            Assert.Equal(r.GetProperty("quantizedParameters").GetInt64(), r.GetProperty("taskWidths").EnumerateArray().Sum(w => w.GetProperty("parameters").GetInt64()));
            Assert.Equal(r.GetProperty("quantizedParameters").GetInt64(), r.GetProperty("baseWidths").EnumerateArray().Sum(w => w.GetProperty("parameters").GetInt64()));
        }
        Assert.Equal(0, Capture("inspect", dir["b"], "--tensors").Code); // the text report (Spectre.Console, not captured here)
        Assert.Equal(0, Cli("verify", dir["b"]));

        using var other = new TempDir();
        Assert.NotEqual(0, Capture(Pack(other, "--scheme", "tvq", "--bits", "3", "--budget", "4")).Code);
        Assert.NotEqual(0, Capture(Pack(other, "--scheme", "tvq", "--budget", "0.1")).Code);
        Assert.NotEqual(0, Capture(Pack(other, "--scheme", "tvq", "--bits", "3", "--sensitivity", dir["w.json"])).Code);
    }

    [Fact]
    public void Decode_as_finetuned_is_pretrained_plus_task_vector()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Cli(Pack(dir, "--scheme", "tvq", "--bits", "8")));
        Assert.Equal(0, Cli("decode", "--bundle", dir["b"], "--task", "a", "--out", dir["tv.safetensors"]));
        Assert.Equal(0, Cli("decode", "--bundle", dir["b"], "--task", "a", "--out", dir["ft.safetensors"], "--as", "finetuned", "--pretrained", fx["pre.pt"]));
        using var tv = CheckpointReader.Open(dir["tv.safetensors"]);
        using var ft = CheckpointReader.Open(dir["ft.safetensors"]);
        using var pre = CheckpointReader.Open(fx["pre.pt"]);
        using var truth = CheckpointReader.Open(fx["t0.pt"]);
        foreach (var p in pre.Tensors)
        {
            var (pv, tvv, ftv, truev) = (p.ToFloat32Array(), tv.Find(p.Name)!.ToFloat32Array(), ft.Find(p.Name)!.ToFloat32Array(), truth.Find(p.Name)!.ToFloat32Array());
            for (int i = 0; i < pv.Length; i++)
            {
                Assert.Equal(pv[i] + tvv[i], ftv[i]);
                Assert.True(Math.Abs(ftv[i] - truev[i]) < 1e-3, $"{p.Name}[{i}] 8-bit TVQ far from the fine-tuned value");
            }
        }
    }

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    public void Merge_tsv_is_pretrained_plus_tsv_of_the_decoded_task_vectors(string scheme)
    {
        using var dir = new TempDir();
        string[] bits = scheme == "tvq" ? ["--bits", "4"] : ["--base-bits", "3", "--offset-bits", "2"];
        Assert.Equal(0, Cli(Pack(dir, ["--scheme", scheme, .. bits])));
        Assert.Equal(0, Cli("decode", "--bundle", dir["b"], "--task", "a", "--out", dir["a.safetensors"]));
        Assert.Equal(0, Cli("decode", "--bundle", dir["b"], "--task", "b", "--out", dir["b.safetensors"]));
        Assert.Equal(0, Cli("merge", "--bundle", dir["b"], "--pretrained", fx["pre.pt"], "--method", "tsv_merge", "--alpha", "0.7", "--out", dir["m.safetensors"]));
        Assert.Equal(0, Cli("merge", "--bundle", dir["b"], "--pretrained", fx["pre.pt"], "--method", "tsv_compress", "--task", "b", "--out", dir["c.safetensors"]));
        using var pre = CheckpointReader.Open(fx["pre.pt"]);
        using var ta = CheckpointReader.Open(dir["a.safetensors"]);
        using var tb = CheckpointReader.Open(dir["b.safetensors"]);
        using var merged = CheckpointReader.Open(dir["m.safetensors"]);
        using var compressed = CheckpointReader.Open(dir["c.safetensors"]);
        int matrices = 0;
        foreach (var p in pre.Tensors.Where(p => p.IsFloating))
        {
            var t = new EdgeTvq.Merging.Methods.TaskTensor(p.Name, p.Shape, [ta.Find(p.Name)!.ToFloat32Array(), tb.Find(p.Name)!.ToFloat32Array()]);
            if (p.Shape.Length == 2) matrices++;
            var pv = p.ToFloat32Array();
            var expectM = EdgeTvq.Merging.Methods.Tsv.MergeTensor(t, 0.7f).Select((d, i) => pv[i] + d).ToArray();
            var expectC = EdgeTvq.Merging.Methods.Tsv.CompressTensor(t, 1).Select((d, i) => pv[i] + d).ToArray();
            Merging.Methods.Approx.Equal(expectM, merged.Find(p.Name)!.ToFloat32Array(), 1e-6f, p.Name);
            Merging.Methods.Approx.Equal(expectC, compressed.Find(p.Name)!.ToFloat32Array(), 1e-6f, p.Name);
        }
        Assert.True(matrices > 0);
        // the compressed task keeps its own tensors (its head), the merge has none (these fixtures have no heads:
        // BundleTableTests covers own tensors)
        var own = tb.Tensors.Select(x => x.Name).Except(pre.Tensors.Select(x => x.Name)).ToList();
        Assert.All(own, n => Assert.Equal(tb.Find(n)!.ToFloat32Array(), compressed.Find(n)!.ToFloat32Array()));
        Assert.All(own, n => Assert.Null(merged.Find(n)));

        var (code, _, err) = Capture("merge", "--bundle", dir["b"], "--pretrained", fx["pre.pt"], "--method", "tsv_compress", "--out", dir["x.safetensors"]);
        Assert.Equal(2, code);
        Assert.Contains("--task", err);
        (code, _, err) = Capture("merge", "--bundle", dir["b"], "--pretrained", fx["pre.pt"], "--method", "bogus", "--out", dir["x.safetensors"]);
        Assert.Equal(2, code);
        Assert.Contains("unknown method 'bogus'; known: individual, task_arithmetic (ta), lines, ties,", err);
        Assert.Contains("tsv_merge", err);
        (code, _, err) = Capture("merge", "--bundle", dir["b"], "--pretrained", fx["t0.pt"], "--method", "tsv_merge", "--out", dir["x.safetensors"]);
        Assert.NotEqual(0, code);
        Assert.Contains("pretrained", err);
        Assert.False(File.Exists(dir["x.safetensors"]));
    }

    [Fact]
    public void Add_task_then_verify_from_the_command_line()
    {
        using var dir = new TempDir();
        Assert.Equal(0, Cli(Pack(dir, "--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2")));
        var baseBytes = File.ReadAllBytes(dir["b/base.tvqb"]);
        Assert.Equal(0, Cli("add-task", "--bundle", dir["b"], "--task", $"c={fx["t2.safetensors"]}"));
        Assert.Equal(baseBytes, File.ReadAllBytes(dir["b/base.tvqb"]));
        var (code, outText, _) = Capture("verify", dir["b"]);
        Assert.Equal(0, code);
        Assert.Contains("verify OK", outText);
    }

    [Fact]
    public void Failures_exit_non_zero_with_a_clear_message()
    {
        using var dir = new TempDir();
        var (code, _, err) = Capture("pack", "--pretrained", dir["missing.pt"], "--task", $"a={fx["t0.pt"]}", "--bits", "4", "--out", dir["b"]);
        Assert.NotEqual(0, code);
        Assert.Contains("missing.pt", err);

        (code, _, err) = Capture("pack", "--pretrained", fx["pre.pt"], "--task", $"a={fx["t0.pt"]}", "--scheme", "rtvq", "--bits", "4", "--out", dir["b"]);
        Assert.NotEqual(0, code);
        Assert.Contains("--base-bits", err);

        (code, _, err) = Capture("pack", "--pretrained", fx["pre.pt"], "--task", $"bad/name={fx["t0.pt"]}", "--bits", "4", "--out", dir["b"]);
        Assert.NotEqual(0, code);
        Assert.Contains("bad/name", err);
        Assert.False(Directory.Exists(dir["b"]));

        Assert.Equal(0, Cli(Pack(dir, "--bits", "4")));
        (code, _, err) = Capture("pack", "--pretrained", fx["pre.pt"], "--task", $"a={fx["t0.pt"]}", "--bits", "4", "--out", dir["b"]);
        Assert.NotEqual(0, code);
        Assert.Contains("not empty", err);

        var bytes = File.ReadAllBytes(dir["b/a.tvqt"]);
        bytes[200] ^= 0x10;
        File.WriteAllBytes(dir["b/a.tvqt"], bytes);
        (code, _, err) = Capture("verify", dir["b"]);
        Assert.Equal(1, code);
        Assert.Contains("a.tvqt", err);
        (code, _, err) = Capture("decode", "--bundle", dir["b"], "--task", "a", "--out", dir["a.safetensors"]);
        Assert.Equal(1, code);
        Assert.False(File.Exists(dir["a.safetensors"]));
    }

    [Fact]
    public void A_pickle_that_runs_code_is_refused_and_nothing_runs()
    {
        using var dir = new TempDir();
        string evil = dir["evil.pt"];
        string marker = dir["pwned"];
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add($$"""
            import os, torch
            class Evil:
                def __reduce__(self):
                    return (os.system, ("touch {{marker}}",))
            torch.save({"w": torch.zeros(2), "x": Evil()}, "{{evil}}")
            """);
        using (var p = System.Diagnostics.Process.Start(psi)!) { p.WaitForExit(); Assert.Equal(0, p.ExitCode); }
        var (code, _, err) = Capture("pack", "--pretrained", fx["pre.pt"], "--task", $"a={evil}", "--bits", "4", "--out", dir["b"]);
        Assert.Equal(1, code);
        Assert.Contains("evil.pt", err);
        Assert.Contains("system", err);
        Assert.False(File.Exists(marker));
    }
}
