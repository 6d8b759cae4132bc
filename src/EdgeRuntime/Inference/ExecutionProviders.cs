using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;

namespace EdgeTvq.Runtime.Inference;

/// <summary>Where ONNX Runtime runs the graph.</summary>
public enum ExecutionProvider
{
    Cpu,
    /// <summary>CUDAExecutionProvider: needs a GPU build of libonnxruntime (see <see cref="ExecutionProviders.UseLibrary"/>).</summary>
    Cuda,
    /// <summary>TensorrtExecutionProvider, with CUDA registered after it for the nodes TensorRT does not take.</summary>
    TensorRt,
}

/// <summary>
/// Chooses the native ONNX Runtime library and registers execution providers. The NuGet package ships a CPU-only
/// libonnxruntime; a GPU build (e.g. the one for Jetson) is loaded with <see cref="UseLibrary"/> before the first
/// ONNX Runtime call. Requests for an absent provider fall back to CPU with a message, never silently.
/// AOT-compatible: no reflection, only NativeLibrary.SetDllImportResolver.
/// </summary>
public static class ExecutionProviders
{
    // The DllImport library name Microsoft.ML.OnnxRuntime uses for every native call.
    private const string OrtLibraryName = "onnxruntime";

    private static readonly Lock s_gate = new();
    private static string? s_libraryPath;
    private static IntPtr s_library;
    private static volatile bool s_ortUsed;

    /// <summary>The library set by <see cref="UseLibrary"/>, or null for the one shipped with the package.</summary>
    public static string? LibraryPath => s_libraryPath;

    /// <summary>
    /// Makes every ONNX Runtime call use the libonnxruntime at <paramref name="path"/> (e.g. a CUDA/TensorRT build).
    /// Must run before anything touches ONNX Runtime (a session, SessionOptions, OrtEnv): the native library is bound
    /// once per process. Calling it again with the same path is a no-op.
    /// </summary>
    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="DllNotFoundException">The file is not a loadable shared library for this machine.</exception>
    /// <exception cref="InvalidOperationException">ONNX Runtime is already loaded, or another library was chosen.</exception>
    public static void UseLibrary(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new FileNotFoundException($"ONNX Runtime library '{full}' does not exist.", full);
        lock (s_gate)
        {
            if (s_libraryPath == full) return;
            if (s_libraryPath is not null)
                throw new InvalidOperationException($"ONNX Runtime is already bound to '{s_libraryPath}'; cannot switch to '{full}' in the same process.");
            if (!NativeLibrary.TryLoad(full, out IntPtr handle))
                throw new DllNotFoundException($"'{full}' could not be loaded as a shared library (wrong architecture, missing dependencies such as CUDA libraries, or not a library).");
            if (s_ortUsed || OrtEnv.IsCreated)
            {
                NativeLibrary.Free(handle);
                throw TooLate(full, null);
            }
            bool ortDefault = OrtEnv.DisableDllImportResolver;
            try
            {
                OrtEnv.DisableDllImportResolver = true; // ORT would otherwise register its own resolver on first use
                NativeLibrary.SetDllImportResolver(typeof(OrtEnv).Assembly, Resolve);
            }
            catch (InvalidOperationException e) // a resolver is already set: ORT's own, registered when it was first used
            {
                OrtEnv.DisableDllImportResolver = ortDefault;
                NativeLibrary.Free(handle);
                throw TooLate(full, e);
            }
            s_library = handle;
            s_libraryPath = full;
        }
    }

    /// <summary>The providers compiled into the loaded ONNX Runtime, e.g. ["CPUExecutionProvider"] for the NuGet build.</summary>
    public static IReadOnlyList<string> Available()
    {
        MarkOrtUsed();
        return OrtEnv.Instance().GetAvailableProviders();
    }

    /// <summary>Records that ONNX Runtime is about to be used, so a later <see cref="UseLibrary"/> fails clearly.</summary>
    internal static void MarkOrtUsed() => s_ortUsed = true;

    /// <summary>
    /// Registers <paramref name="requested"/> on <paramref name="options"/>. Returns the provider that will run the
    /// graph; when that is not the requested one, <paramref name="note"/> says why (otherwise null).
    /// </summary>
    internal static ExecutionProvider Append(SessionOptions options, ExecutionProvider requested, int deviceId, out string? note)
    {
        note = null;
        if (requested == ExecutionProvider.Cpu) return ExecutionProvider.Cpu;
        if (requested == ExecutionProvider.TensorRt)
        {
            if (TryAppend(() => options.AppendExecutionProvider_Tensorrt(deviceId), "TensorRT", out note))
            {
                // CUDA takes the nodes TensorRT rejects; without it they run on CPU, which is still correct.
                TryAppend(() => options.AppendExecutionProvider_CUDA(deviceId), "CUDA", out _);
                return ExecutionProvider.TensorRt;
            }
        }
        if (TryAppend(() => options.AppendExecutionProvider_CUDA(deviceId), "CUDA", out string? cudaNote))
        {
            return ExecutionProvider.Cuda;
        }
        note = note is null ? cudaNote + "; running on CPU." : $"{note}; {cudaNote}; running on CPU.";
        return ExecutionProvider.Cpu;
    }

    private static bool TryAppend(Action append, string label, out string? failure)
    {
        try
        {
            append();
            failure = null;
            return true;
        }
        // The NuGet CPU-only libonnxruntime 1.31 does not export OrtSessionOptionsAppendExecutionProvider_CUDA/_Tensorrt
        // (EntryPointNotFoundException, checked by the tests); a GPU build whose provider library or CUDA/TensorRT
        // libraries cannot be loaded answers with an error status (OnnxRuntimeException).
        catch (Exception e) when (e is OnnxRuntimeException or EntryPointNotFoundException)
        {
            string library = s_libraryPath ?? "the CPU-only libonnxruntime of the Microsoft.ML.OnnxRuntime package";
            string available = string.Join(", ", OrtEnv.Instance().GetAvailableProviders());
            failure = $"{label} execution provider requested but not available in {library} (providers: {available}): {e.Message.Trim().TrimEnd('.')}";
            return false;
        }
    }

    private static IntPtr Resolve(string libraryName, System.Reflection.Assembly assembly, DllImportSearchPath? searchPath) =>
        libraryName == OrtLibraryName ? s_library : IntPtr.Zero;

    private static InvalidOperationException TooLate(string path, Exception? inner) => new(
        $"Too late to load '{path}': ONNX Runtime is already in use in this process (a session, SessionOptions or OrtEnv " +
        "was created first). Call ExecutionProviders.UseLibrary before any other ONNX Runtime call, at startup.", inner);
}
