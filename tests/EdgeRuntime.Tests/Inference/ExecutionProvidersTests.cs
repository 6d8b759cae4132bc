using System.Runtime.InteropServices;
using EdgeTvq.Runtime.Inference;

namespace EdgeTvq.Runtime.Tests.Inference;

/// <summary>
/// ExecutionProviders.UseLibrary can only succeed before ONNX Runtime is first used, which a test process cannot
/// guarantee; these tests cover its refusals. (The fallback from CUDA/TensorRT to CPU is in ModelSessionTests.)
/// </summary>
[Collection(MergedReferenceCollection.Name)]
public sealed class ExecutionProvidersTests
{
    [Fact]
    public void UseLibraryNamesAMissingFile()
    {
        string path = Path.Combine(Path.GetTempPath(), "no-such-dir", "libonnxruntime.so");
        var e = Assert.Throws<FileNotFoundException>(() => ExecutionProviders.UseLibrary(path));
        Assert.Contains(path, e.Message);
        Assert.Null(ExecutionProviders.LibraryPath);
    }

    [Fact]
    public void UseLibraryRefusesAFileThatIsNotALibrary()
    {
        using var dir = new TempDir();
        string path = dir.File("libonnxruntime.so");
        File.WriteAllText(path, "not a shared library");
        var e = Assert.Throws<DllNotFoundException>(() => ExecutionProviders.UseLibrary(path));
        Assert.Contains(path, e.Message);
        Assert.Null(ExecutionProviders.LibraryPath);
    }

    [Fact]
    public void UseLibraryAfterOnnxRuntimeStartedIsTooLate()
    {
        Assert.Contains("CPUExecutionProvider", ExecutionProviders.Available()); // ONNX Runtime is now loaded
        string arch = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? "linux-arm64" : "linux-x64";
        string shipped = Path.Combine(AppContext.BaseDirectory, "runtimes", arch, "native", "libonnxruntime.so");
        Assert.True(File.Exists(shipped), $"expected the package's library at {shipped}");

        var e = Assert.Throws<InvalidOperationException>(() => ExecutionProviders.UseLibrary(shipped));
        Assert.Contains("Too late", e.Message);
        Assert.Contains("before any other ONNX Runtime call", e.Message);
        Assert.Null(ExecutionProviders.LibraryPath);
    }
}
