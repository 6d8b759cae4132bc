using System.Diagnostics;
using System.Globalization;
using EdgeTvq.Merging;

namespace EdgeTvq.Eval;

/// <summary>
/// AdaMerging recipes for the harness: learned by <c>edgetvq-pack adamerge</c> (src/Packer.AdaMerging, run as a
/// child process so the harness needs no TorchSharp) on the scheme's own bundle with the zoo's unlabeled test images,
/// and kept in <c>&lt;out&gt;/adamerging/&lt;zoo&gt;-&lt;key&gt;/&lt;scheme&gt;-&lt;tw|lw&gt;-&lt;steps&gt;.json</c>, so a rerun (or a
/// rerun after the cell cache was dropped) does not learn again. A kept recipe is reused only while it names the
/// current bundle (its <c>source</c> ends with the bundle id); the TorchScript encoder is exported once per zoo.
/// </summary>
public static class AdaMergingRecipes
{
    /// <summary>Fixed options of every run (part of the method's settings text, hence of the cache key).</summary>
    public const string FixedSettings = "lr=5e-3 init=0.3 batch=16 seed=0 threads=1";

    public static MergeRecipe Get(MergeContext c, bool layerWise, int steps)
    {
        var zoo = c.Zoo ?? throw new InvalidOperationException("AdaMerging needs the zoo in the merge context");
        var scheme = c.Scheme ?? throw new InvalidOperationException("AdaMerging needs the scheme in the merge context");
        string bundle = c.BundleDir ?? throw new InvalidOperationException("AdaMerging needs the bundle folder in the merge context");
        if (zoo.IsSubset) throw new ArgumentException($"AdaMerging reads the whole zoo folder; evaluate {zoo.Name} without --tasks");
        string dir = Path.Combine(c.OutDir ?? "artifacts/eval", "adamerging", $"{zoo.Name}-{zoo.Key[..8]}");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{scheme.Id}-{(layerWise ? "lw" : "tw")}-{steps}.json");
        if (!File.Exists(path) || RecipeDocument.Load(path).Source?.EndsWith(c.Manifest.BundleId, StringComparison.Ordinal) != true)
            Learn(zoo, bundle, Encoder(zoo, dir), layerWise, steps, path);
        return RecipeDocument.Load(path).ToRecipe(c.Manifest, path);
    }

    /// <summary>The zoo's pretrained encoder as TorchScript (bench/adamerging/export_torchscript.py), exported once.</summary>
    private static string Encoder(Zoo zoo, string dir)
    {
        string ts = Path.Combine(dir, "encoder.ts");
        if (File.Exists(ts)) return ts;
        string script = Path.Combine(RepoRoot(), "bench", "adamerging", "export_torchscript.py");
        Exec("/usr/bin/python3", [script, "--zoo", zoo.Dir, "--out", ts + ".partial"], Path.Combine(dir, "encoder.log"));
        File.Move(ts + ".partial", ts, overwrite: true);
        return ts;
    }

    private static void Learn(Zoo zoo, string bundle, string encoder, bool layerWise, int steps, string path)
    {
        string dll = Environment.GetEnvironmentVariable("EDGETVQ_PACK_DLL") is { Length: > 0 } e ? e
            : Path.Combine(RepoRoot(), "src", "Packer", "bin", "Release", "net10.0", "edgetvq-pack.dll");
        if (!File.Exists(dll))
            throw new FileNotFoundException($"{dll}: edgetvq-pack is not built; AdaMerging rows need it (./build.sh build, or set EDGETVQ_PACK_DLL)", dll);
        var args = new List<string>
        {
            dll, "adamerge", "--bundle", bundle, "--pretrained", zoo.PretrainedCheckpoint, "--model", encoder,
            layerWise ? "--layer-wise" : "--task-wise", "--steps", steps.ToString(CultureInfo.InvariantCulture),
            "--lr", "5e-3", "--init", "0.3", "--batch-size", "16", "--seed", "0", "--threads", "1", "--out", path,
        };
        args.Add("--images");
        args.AddRange(zoo.Tasks.Select(t => $"{t.Name}={t.TestImages}"));
        var clock = Stopwatch.StartNew();
        Exec("dotnet", args, Path.ChangeExtension(path, ".log"));
        File.AppendAllText(Path.ChangeExtension(path, ".log"), string.Create(CultureInfo.InvariantCulture, $"wall {clock.Elapsed.TotalSeconds:F1} s\n"));
    }

    /// <summary>Runs a tool, its output into <paramref name="log"/>; a non-zero exit is an error naming the log.</summary>
    private static void Exec(string file, IEnumerable<string> args, string log)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new IOException($"could not start {file}");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        File.WriteAllText(log, $"{file} {string.Join(' ', psi.ArgumentList)}\n{stdout}{stderr.Result}");
        if (p.ExitCode != 0) throw new IOException($"{Path.GetFileName(file)} exited with {p.ExitCode}; see {log}");
    }

    /// <summary>The repository root: the first folder above the harness's binaries that holds EdgeTvq.sln.</summary>
    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "EdgeTvq.sln"))) return d.FullName;
        throw new DirectoryNotFoundException($"no EdgeTvq.sln above {AppContext.BaseDirectory}");
    }
}
