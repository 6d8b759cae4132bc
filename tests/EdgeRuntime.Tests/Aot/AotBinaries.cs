using System.Diagnostics;
using System.Runtime.InteropServices;

namespace EdgeTvq.Runtime.Tests.Aot;

/// <summary>
/// The Native AOT binaries that <c>./build.sh publish</c> writes to artifacts/publish/&lt;rid&gt;/ (edgetvq +
/// libonnxruntime.so), found through EDGETVQ_PUBLISH_DIR (the artifacts/publish folder; <c>./build.sh test</c>
/// publishes first and sets it). <see cref="Run"/> starts one of them: natively when the RID matches this machine,
/// else under qemu-user (qemu-aarch64 -L /usr/aarch64-linux-gnu for linux-arm64), so a test can run the same
/// command line for linux-x64 and linux-arm64 and compare the outputs.
/// </summary>
public static class AotBinaries
{
    public const string EnvironmentVariable = "EDGETVQ_PUBLISH_DIR";
    /// <summary>The classic Jetson Nano flavour: linux-arm64 linked against glibc 2.27 (./build.sh publish --glibc 2.27).</summary>
    public const string Nano = "linux-arm64-glibc2.27";
    /// <summary>The publish targets (folders of artifacts/publish): two RIDs and the Nano flavour of linux-arm64.</summary>
    public static readonly string[] Rids = ["linux-x64", "linux-arm64", Nano];

    public static bool IsArm64(string rid) => rid.StartsWith("linux-arm64", StringComparison.Ordinal);
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    /// <summary>The publish root (holding linux-x64/ and linux-arm64/); a test failure when it is not set.</summary>
    public static string PublishDir
    {
        get
        {
            string? dir = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (string.IsNullOrEmpty(dir))
                Assert.Fail($"{EnvironmentVariable} is not set: run ./build.sh publish and set {EnvironmentVariable}=<repo>/artifacts/publish, as ./build.sh test does");
            dir = Path.GetFullPath(dir);
            Assert.True(Directory.Exists(dir), $"{EnvironmentVariable}={dir} does not exist: run ./build.sh publish");
            return dir;
        }
    }

    /// <summary>artifacts/publish/&lt;rid&gt;/, checked to hold edgetvq.</summary>
    public static string RidDir(string rid)
    {
        Assert.Contains(rid, Rids);
        string dir = Path.Combine(PublishDir, rid);
        Assert.True(File.Exists(Path.Combine(dir, "edgetvq")), $"{dir}/edgetvq is missing: run ./build.sh publish --rid {rid}");
        return dir;
    }

    public static string Binary(string rid) => Path.Combine(RidDir(rid), "edgetvq");

    /// <summary>The repository root (holds build.sh and scripts/), searched upward from the test assembly, then from the publish folder.</summary>
    public static string RepoRoot
    {
        get
        {
            foreach (string start in new[] { AppContext.BaseDirectory, PublishDir })
            {
                for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                    if (File.Exists(Path.Combine(d.FullName, "build.sh")) && Directory.Exists(Path.Combine(d.FullName, "scripts")))
                        return d.FullName;
            }
            Assert.Fail("repository root (build.sh, scripts/) not found above the test assembly or the publish folder");
            return "";
        }
    }

    /// <summary>
    /// Libraries the arm64 binary needs under qemu beyond the cross sysroot (OpenSSL 3, which .NET's SHA-256 loads):
    /// EDGETVQ_QEMU_ARM64_LIBS, else &lt;repo&gt;/.cache/qemu-arm64/usr/lib/aarch64-linux-gnu from
    /// scripts/qemu-arm64-libs.sh (./build.sh publish runs it); null when neither exists.
    /// </summary>
    public static string? QemuArm64LibraryDir
    {
        get
        {
            string? dir = Environment.GetEnvironmentVariable("EDGETVQ_QEMU_ARM64_LIBS");
            if (string.IsNullOrEmpty(dir))
                dir = Path.Combine(RepoRoot, ".cache", "qemu-arm64", "usr", "lib", "aarch64-linux-gnu");
            return File.Exists(Path.Combine(dir, "libssl.so.3")) ? dir : null;
        }
    }

    /// <summary>Runs the <paramref name="rid"/> binary with <paramref name="args"/> (under qemu when foreign), with <see cref="DefaultTimeout"/>.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(string rid, params string[] args) =>
        RunWithTimeout(rid, DefaultTimeout, args);

    public static (int ExitCode, string Stdout, string Stderr) RunWithTimeout(string rid, TimeSpan timeout, params string[] args)
    {
        var line = CommandLine(rid, args);
        return RunProcess(line[0], line.Skip(1), timeout);
    }

    /// <summary>
    /// Starts the <paramref name="rid"/> binary (under qemu when foreign) and leaves it running, output redirected:
    /// for a server. The caller stops it (Kill with entireProcessTree, or a signal).
    /// </summary>
    public static Process Start(string rid, params string[] args)
    {
        var line = CommandLine(rid, args);
        var psi = new ProcessStartInfo(line[0]) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in line.Skip(1)) psi.ArgumentList.Add(a);
        psi.Environment["ORT_DISABLE_TELEMETRY"] = "1";
        return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {line[0]}");
    }

    /// <summary>The program and arguments that run the <paramref name="rid"/> binary here (qemu and its wrapper when foreign).</summary>
    private static List<string> CommandLine(string rid, string[] args)
    {
        string binary = Binary(rid);
        Architecture arch = IsArm64(rid) ? Architecture.Arm64 : Architecture.X64;
        var prefix = new List<string>();
        if (RuntimeInformation.OSArchitecture != arch)
        {
            (string qemu, string sysroot) = arch == Architecture.Arm64
                ? ("qemu-aarch64", "/usr/aarch64-linux-gnu")
                : ("qemu-x86_64", "/usr/x86_64-linux-gnu");
            string? path = FindOnPath(qemu) ?? FindOnPath(qemu + "-static");
            Assert.True(path is not null, $"{qemu} not found: apt-get install qemu-user (./build.sh publish installs it)");
            prefix.AddRange([path!, "-L", sysroot]);
            if (arch == Architecture.Arm64 && QemuArm64LibraryDir is { } libs)
                prefix.AddRange(["-E", "LD_LIBRARY_PATH=" + libs]);
        }
        prefix.Add(binary);
        if (arch == Architecture.Arm64 && prefix.Count > 1 && ArmCpuInfoWrapper() is { } wrapper) prefix.InsertRange(0, wrapper);
        prefix.AddRange(args);
        return prefix;
    }

    /// <summary>Runs any program (e.g. scripts/check-glibc.sh) with a timeout; stdout and stderr are read concurrently.</summary>
    public static (int ExitCode, string Stdout, string Stderr) RunProcess(string fileName, IEnumerable<string> args, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        p.StandardInput.Close();
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"{fileName} {string.Join(' ', psi.ArgumentList)} did not finish in {timeout.TotalSeconds:0} s");
        }
        p.WaitForExit(); // drains the redirected streams
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// qemu-user shows an emulated aarch64 program the host's x86 /proc/cpuinfo. ONNX Runtime's CPU detection parses
    /// it as an ARM one, and on some hosts (seen on a 2-core Xeon KVM guest) crashes with a null dereference before
    /// the first session. As root, the arm64 binary therefore runs in a private mount namespace where
    /// fixtures/aarch64-cpuinfo.txt (two Neoverse-N1 cores) is bind-mounted over /proc/cpuinfo; nothing outside the
    /// namespace changes. Null (run plainly) when not root or when unshare is missing.
    /// </summary>
    private static string[]? ArmCpuInfoWrapper()
    {
        string fake = Path.Combine(AppContext.BaseDirectory, "fixtures", "aarch64-cpuinfo.txt");
        if (Environment.UserName != "root" || FindOnPath("unshare") is not { } unshare || !File.Exists(fake)) return null;
        return [unshare, "--mount", "--", "sh", "-c", "mount --bind \"$0\" /proc/cpuinfo && exec \"$@\"", fake];
    }

    private static string? FindOnPath(string name)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
