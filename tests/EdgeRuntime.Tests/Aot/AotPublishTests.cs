namespace EdgeTvq.Runtime.Tests.Aot;

/// <summary>
/// The published Native AOT binaries (./build.sh publish) start on both targets, linux-arm64 under qemu, need no
/// newer glibc than JetPack 6 / Ubuntu 22.04 (2.35) and ship nothing Windows. Needs EDGETVQ_PUBLISH_DIR (see
/// <see cref="AotBinaries"/>); without it every test here fails with what to run.
/// </summary>
public class AotPublishTests
{
    public const string JetPack6Glibc = "2.35";
    /// <summary>JetPack 4.6 (Ubuntu 18.04, the classic Jetson Nano): glibc 2.27, libstdc++ of GCC 8 (GLIBCXX_3.4.25).</summary>
    public const string JetPack4Glibc = "2.27", JetPack4Glibcxx = "3.4.25";

    public static TheoryData<string> Rids => new(AotBinaries.Rids);

    [Theory]
    [MemberData(nameof(Rids))]
    public void Publish_folder_holds_the_binary_and_onnxruntime_and_nothing_windows(string rid)
    {
        string dir = AotBinaries.RidDir(rid);
        Assert.True(File.Exists(Path.Combine(dir, "libonnxruntime.so")), $"{dir}/libonnxruntime.so is missing");
        string[] windows = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".exe", StringComparison.OrdinalIgnoreCase))
            .ToArray();
        Assert.True(windows.Length == 0, $"Windows files in {dir}: {string.Join(", ", windows.Select(Path.GetFileName))}");
    }

    [Theory]
    [MemberData(nameof(Rids))]
    public void Binary_is_an_elf_executable_for_its_rid(string rid)
    {
        byte[] header = new byte[20];
        using (var f = File.OpenRead(AotBinaries.Binary(rid))) f.ReadExactly(header);
        Assert.Equal("\u007fELF"u8.ToArray(), header[..4]);
        Assert.Equal(2, header[4]); // ELFCLASS64
        ushort machine = BitConverter.ToUInt16(header, 18);
        Assert.Equal(AotBinaries.IsArm64(rid) ? (ushort)183 /* EM_AARCH64 */ : (ushort)62 /* EM_X86_64 */, machine);
    }

    [Theory]
    [InlineData("linux-x64", "--version")]
    [InlineData("linux-x64", "--help")]
    [InlineData("linux-arm64", "--version")]
    [InlineData("linux-arm64", "--help")]
    [InlineData(AotBinaries.Nano, "--version")]
    public void Binary_starts_and_exits_zero(string rid, string arg)
    {
        var (exit, stdout, stderr) = AotBinaries.Run(rid, arg);
        Assert.True(exit == 0, $"edgetvq {arg} ({rid}) exited with {exit}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.False(string.IsNullOrWhiteSpace(stdout), $"edgetvq {arg} ({rid}) printed nothing");
    }

    [Theory]
    [InlineData("--version")]
    [InlineData("--help")]
    public void Arm64_under_qemu_prints_what_x64_prints(string arg)
    {
        var x64 = AotBinaries.Run("linux-x64", arg);
        var arm64 = AotBinaries.Run("linux-arm64", arg);
        // --version carries the git commit: a difference also means the two folders come from different sources
        // (./build.sh publish builds both from one tree).
        Assert.True(x64.ExitCode == arm64.ExitCode && x64.Stdout == arm64.Stdout,
            $"edgetvq {arg}: linux-x64 (exit {x64.ExitCode}) and linux-arm64 under qemu (exit {arm64.ExitCode}) differ\n" +
            $"x64:\n{x64.Stdout}\narm64:\n{arm64.Stdout}\narm64 stderr:\n{arm64.Stderr}");
    }

    [Fact]
    public void Qemu_has_openssl_for_the_arm64_binary()
    {
        _ = AotBinaries.RidDir("linux-arm64");
        if (System.Runtime.InteropServices.RuntimeInformation.OSArchitecture == System.Runtime.InteropServices.Architecture.Arm64) return;
        Assert.True(AotBinaries.QemuArm64LibraryDir is not null,
            "no arm64 libssl.so.3 for qemu: the arm64 edgetvq aborts (\"No usable version of libssl\") as soon as it hashes; " +
            "run scripts/qemu-arm64-libs.sh (./build.sh publish does)");
    }

    [Theory]
    [MemberData(nameof(Rids))]
    public void Glibc_requirement_fits_jetpack6(string rid)
    {
        string script = Path.Combine(AotBinaries.RepoRoot, "scripts", "check-glibc.sh");
        // Checks edgetvq and the shared libraries beside it (libonnxruntime.so).
        var (exit, stdout, stderr) = AotBinaries.RunProcess("bash", [script, AotBinaries.Binary(rid), JetPack6Glibc], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"check-glibc.sh {rid} exited with {exit} (limit GLIBC {JetPack6Glibc}):\n{stdout}\n{stderr}");
        Assert.Contains("edgetvq", stdout);
        Assert.Contains("libonnxruntime.so", stdout);
    }

    /// <summary>
    /// The Nano flavour's every shipped ELF (edgetvq, the patched libonnxruntime.so, its fcntl64 shim, the providers
    /// library) needs at most glibc 2.27 and GLIBCXX_3.4.25. Debian's arm64 libc under qemu is 2.36, so this symbol
    /// check, not a run, is what shows the binary loads on JetPack 4.6.
    /// </summary>
    [Fact]
    public void Nano_flavour_needs_at_most_glibc_2_27_and_glibcxx_3_4_25()
    {
        string script = Path.Combine(AotBinaries.RepoRoot, "scripts", "check-glibc.sh");
        var (exit, stdout, stderr) = AotBinaries.RunProcess("bash",
            [script, "--glibcxx", JetPack4Glibcxx, AotBinaries.Binary(AotBinaries.Nano), JetPack4Glibc], TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, $"check-glibc.sh {AotBinaries.Nano} exited with {exit}:\n{stdout}\n{stderr}");
        foreach (var file in new[] { "edgetvq", "libonnxruntime.so", "libedgetvq_fcntl64.so", "libonnxruntime_providers_shared.so" })
            Assert.Contains($"{file} [AArch64]: GLIBC_", stdout);
        // The one symbol of glibc 2.28 that ONNX Runtime uses is satisfied by the shim there.
        var (_, needed, _) = AotBinaries.RunProcess("readelf", ["-d", Path.Combine(AotBinaries.RidDir(AotBinaries.Nano), "libonnxruntime.so")], TimeSpan.FromMinutes(1));
        Assert.Contains("libedgetvq_fcntl64.so", needed);
    }
}
