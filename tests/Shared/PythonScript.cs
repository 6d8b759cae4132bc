using System.Diagnostics;
using System.Security.Cryptography;

namespace EdgeTvq.TestSupport;

/// <summary>
/// Runs a fixture script with Debian's /usr/bin/python3 (torch + onnx; override with EDGETVQ_PYTHON) into a temp
/// folder keyed by the hash of the script and the Python modules beside it, once: later test runs reuse the output. The script gets the output folder
/// as its only argument and must create <paramref name="marker"/> last.
/// </summary>
public static class PythonScript
{
    public static string RunCached(string script, string marker, string cacheName)
    {
        if (!File.Exists(script)) throw new FileNotFoundException($"fixture script missing at {script}", script);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(File.ReadAllBytes(script));
        foreach (var module in Directory.EnumerateFiles(Path.GetDirectoryName(script)!, "*.py").Order(StringComparer.Ordinal))
            sha.AppendData(File.ReadAllBytes(module));
        string hash = Convert.ToHexString(sha.GetHashAndReset())[..16].ToLowerInvariant();
        string dir = Path.Combine(Path.GetTempPath(), cacheName, hash);
        if (File.Exists(Path.Combine(dir, marker))) return dir;

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
                $"{python} {script} failed with exit code {p.ExitCode} (needs Debian python3-torch and python3-onnx; ./build.sh test installs them):\n{stdout.Result}\n{stderr.Result}");
        Directory.CreateDirectory(Path.GetDirectoryName(dir)!);
        try
        {
            Directory.Move(staging, dir);
        }
        catch (IOException) when (File.Exists(Path.Combine(dir, marker)))
        {
            Directory.Delete(staging, recursive: true); // another test run won the race
        }
        return dir;
    }
}
