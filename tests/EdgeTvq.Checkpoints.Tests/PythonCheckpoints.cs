using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>One tensor as PyTorch/ONNX reported it (from reference.json written by make_checkpoints.py).</summary>
public sealed record ExpectedTensor(string Name, TensorDType DType, long[] Shape, byte[] Raw, byte[]? Float32);

/// <summary>
/// Runs fixtures/make_checkpoints.py once with Debian's /usr/bin/python3 (torch + onnx) into a temp folder
/// keyed by the script's hash, so later test runs reuse the files. Override the interpreter with EDGETVQ_PYTHON.
/// </summary>
public sealed class PythonCheckpoints
{
    public PythonCheckpoints()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "fixtures", "make_checkpoints.py");
        Assert.True(File.Exists(script), $"fixture script missing at {script}");
        string hash = Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(script)))[..16].ToLowerInvariant();
        Dir = Path.Combine(Path.GetTempPath(), "edgetvq-checkpoint-fixtures", hash);
        if (!File.Exists(Path.Combine(Dir, "reference.json")))
            Generate(script, Dir);
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Dir, "reference.json")));
        foreach (JsonProperty file in doc.RootElement.EnumerateObject())
        {
            Reference[file.Name] = file.Value.EnumerateArray().Select(e => new ExpectedTensor(
                e.GetProperty("name").GetString()!,
                Enum.Parse<TensorDType>(e.GetProperty("dtype").GetString()!, ignoreCase: true),
                e.GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ToArray(),
                Convert.FromBase64String(e.GetProperty("raw").GetString()!),
                e.TryGetProperty("f32", out JsonElement f) ? Convert.FromBase64String(f.GetString()!) : null)).ToList();
        }
    }

    public string Dir { get; }

    public Dictionary<string, List<ExpectedTensor>> Reference { get; } = [];

    public string PathOf(string file) => Path.Combine(Dir, file);

    private static void Generate(string script, string dir)
    {
        string python = Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3";
        string staging = dir + ".tmp-" + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8];
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(staging);
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {python}");
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{python} {script} did not finish in 5 minutes");
        }
        if (p.ExitCode != 0)
            throw new InvalidOperationException(
                $"{python} {script} failed with exit code {p.ExitCode} (needs Debian python3-torch and python3-onnx):\n{stdout.Result}\n{stderr.Result}");
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        try
        {
            Directory.Move(staging, dir);
        }
        catch (IOException) when (File.Exists(Path.Combine(dir, "reference.json")))
        {
            Directory.Delete(staging, recursive: true); // another test run won the race
        }
    }
}

[CollectionDefinition(Name)]
public sealed class PythonCheckpointsCollection : ICollectionFixture<PythonCheckpoints>
{
    public const string Name = "Python-written checkpoints";
}
