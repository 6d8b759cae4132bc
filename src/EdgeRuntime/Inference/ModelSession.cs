using System.Diagnostics;
using EdgeTvq.Merging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace EdgeTvq.Runtime.Inference;

/// <summary>
/// A live model with merged weights: the one owner of the InferenceSession, its SessionOptions and RunOptions, the
/// OrtValues bound over the weights' native memory and the <see cref="WeightSet"/> itself, so the memory ONNX
/// Runtime reads can never be freed before the session that reads it. <see cref="Dispose"/> releases the session,
/// its options, the bound OrtValues, then the weights.
/// <para>
/// Thread safety: <see cref="Run(string, float[], long[], string)"/> may be called from several threads at once
/// (ONNX Runtime sessions support concurrent runs; the bound weights are read-only). <see cref="Rebind"/> and
/// <see cref="Dispose"/> wait for runs in flight and block new ones while they swap or release the buffers.
/// </para>
/// </summary>
public sealed class ModelSession : IDisposable
{
    /// <summary>ONNX files are protobufs, which cannot exceed 2 GiB; larger weights live in external data files.</summary>
    private const long MaxModelBytes = int.MaxValue;

    private readonly ReaderWriterLockSlim _lock = new(LockRecursionPolicy.NoRecursion);
    private readonly string _modelPath;
    private readonly InferenceSession _session;
    private readonly SessionOptions _sessionOptions;
    private readonly RunOptions _runOptions;
    private readonly IReadOnlyList<OnnxInitializer> _weightInputs;
    private readonly string[] _weightNames;
    private readonly HashSet<string> _inputNames;
    private readonly HashSet<string> _outputNames;
    private OrtValue[] _bound;
    private WeightSet? _weights;
    private bool _disposed;

    private ModelSession(string modelPath, SessionMode mode, InferenceSession session, SessionOptions sessionOptions,
        IReadOnlyList<OnnxInitializer> weightInputs, OrtValue[] bound, WeightSet? weights)
    {
        _modelPath = modelPath;
        Mode = mode;
        _session = session;
        _sessionOptions = sessionOptions;
        _runOptions = new RunOptions();
        _weightInputs = weightInputs;
        _weightNames = weightInputs.Select(w => w.Name).ToArray();
        _bound = bound;
        _weights = weights;
        var weightNames = _weightNames.ToHashSet(StringComparer.Ordinal);
        InputNames = session.InputNames.Where(n => !weightNames.Contains(n)).ToList();
        OutputNames = session.OutputNames.ToList();
        _inputNames = InputNames.ToHashSet(StringComparer.Ordinal);
        _outputNames = OutputNames.ToHashSet(StringComparer.Ordinal);
    }

    public SessionMode Mode { get; }

    /// <summary>The provider actually running the graph.</summary>
    public ExecutionProvider Provider { get; private init; }

    /// <summary>Why <see cref="Provider"/> differs from the requested one (e.g. CUDA absent → CPU); null when it does not.</summary>
    public string? ProviderNote { get; private init; }

    /// <summary>Reading and rewriting the model, creating the session and binding the weights.</summary>
    public TimeSpan BuildTime { get; private init; }

    /// <summary>The model's data inputs (weights excluded) and outputs.</summary>
    public IReadOnlyList<string> InputNames { get; }
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>The initializers bound per run (<see cref="SessionMode.WeightsAsInputs"/>); empty when embedded.</summary>
    public IReadOnlyList<OnnxInitializer> WeightInputs => _weightInputs;

    /// <summary>
    /// Builds a session of the model at <paramref name="modelPath"/> running with <paramref name="weights"/>.
    /// </summary>
    /// <param name="modelPath">An ONNX model; external data is read from its folder.</param>
    /// <param name="weights">
    /// Ownership passes to the session in every case: do not use or dispose it after this call. It must hold exactly
    /// the selected initializers (<see cref="InferenceOptions.WeightNames"/>, default every FLOAT initializer) with
    /// the model's shapes. WeightsAsInputs keeps it bound until <see cref="Rebind"/> or <see cref="Dispose"/>;
    /// Embedded frees it as soon as it is copied into the model bytes; if Create throws it is freed too.
    /// </param>
    /// <exception cref="FileNotFoundException">No file at <paramref name="modelPath"/>.</exception>
    /// <exception cref="OnnxModelException">The file is not a usable ONNX model, the weights do not match it, or ONNX Runtime refuses it.</exception>
    public static ModelSession Create(string modelPath, WeightSet weights, InferenceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        return Build(modelPath, weights, options);
    }

    /// <summary>
    /// Builds a <see cref="SessionMode.WeightsAsInputs"/> session with no weights of its own, to be shared by several
    /// weight sets: each is bound once (<see cref="Bind(WeightSet)"/>) and named on every run
    /// (<see cref="Run(WeightBinding, string, float[], long[], string)"/>), so switching between them builds no session.
    /// <see cref="InferenceOptions.WeightNames"/> selects the weight inputs (default every FLOAT initializer).
    /// </summary>
    public static ModelSession CreateShared(string modelPath, InferenceOptions options)
    {
        if (options.Mode != SessionMode.WeightsAsInputs)
            throw new ArgumentException("a shared session binds its weights per run: it needs SessionMode.WeightsAsInputs", nameof(options));
        return Build(modelPath, null, options);
    }

    private static ModelSession Build(string modelPath, WeightSet? weights, InferenceOptions? options)
    {
        try
        {
            ArgumentException.ThrowIfNullOrEmpty(modelPath);
            options ??= new InferenceOptions();
            var clock = Stopwatch.StartNew();
            // The file is mapped, not read onto the heap: with weights bound as inputs only the graph (without the
            // weights' bytes) is copied, so a switch allocates no model-sized managed buffer.
            EdgeTvq.IO.LocalFile.MappedBytes file;
            try { file = EdgeTvq.IO.LocalFile.Map(modelPath, MaxModelBytes, "ONNX model"); }
            catch (InvalidDataException e) { throw new OnnxModelException(modelPath, null, e.Message); }
            byte[]? model;
            IReadOnlyList<OnnxInitializer> inputs;
            using (file)
            {
                if (options.Mode == SessionMode.WeightsAsInputs)
                {
                    WeightInputsModel rewritten = OnnxModelRewriter.WeightsAsInputs(file.Span, modelPath, options.WeightNames);
                    if (weights is not null) OnnxModelRewriter.CheckWeights(modelPath, rewritten.WeightInputs, weights);
                    model = rewritten.Bytes;
                    inputs = rewritten.WeightInputs;
                }
                else
                {
                    model = OnnxModelRewriter.Embed(file.Span, modelPath, weights!, options.WeightNames);
                    weights!.Dispose(); // copied into the model bytes; free it before ONNX Runtime makes its own copy
                    inputs = [];
                }
            }

            (InferenceSession session, SessionOptions sessionOptions, ExecutionProvider provider, string? note) =
                CreateSession(modelPath, model, options);
            model = null; // the bytes are parsed; let the GC take them (they hold every weight when embedded)
            OrtValue[] bound = [];
            try
            {
                if (options.Mode == SessionMode.WeightsAsInputs && weights is not null) bound = Bind(inputs, weights);
                return new ModelSession(modelPath, options.Mode, session, sessionOptions, inputs, bound,
                    options.Mode == SessionMode.WeightsAsInputs ? weights : null)
                {
                    Provider = provider,
                    ProviderNote = note,
                    BuildTime = clock.Elapsed,
                };
            }
            catch
            {
                foreach (OrtValue v in bound) v.Dispose();
                session.Dispose();
                sessionOptions.Dispose();
                throw;
            }
        }
        catch
        {
            weights?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs the model on one float32 input and returns one float32 output (copied out of ONNX Runtime's buffer).
    /// </summary>
    /// <param name="input">Row-major elements, exactly the product of <paramref name="inputShape"/>; pinned, not copied, during the run.</param>
    public float[] Run(string inputName, float[] input, long[] inputShape, string outputName) =>
        Run(inputName, input, inputShape, outputName, out _);

    /// <inheritdoc cref="Run(string, float[], long[], string)"/>
    public float[] Run(string inputName, float[] input, long[] inputShape, string outputName, out long[] outputShape) =>
        RunWith(null, inputName, input, inputShape, outputName, out outputShape);

    /// <summary>Runs the shared session with the weights of <paramref name="binding"/> (see <see cref="CreateShared"/>).</summary>
    public float[] Run(WeightBinding binding, string inputName, float[] input, long[] inputShape, string outputName) =>
        Run(binding, inputName, input, inputShape, outputName, out _);

    /// <inheritdoc cref="Run(WeightBinding, string, float[], long[], string)"/>
    public float[] Run(WeightBinding binding, string inputName, float[] input, long[] inputShape, string outputName, out long[] outputShape)
    {
        ArgumentNullException.ThrowIfNull(binding);
        if (binding.Session != this) throw new ArgumentException("the weights are bound to another session", nameof(binding));
        return RunWith(binding, inputName, input, inputShape, outputName, out outputShape);
    }

    /// <summary>The declared shape of data input <paramref name="inputName"/>: −1 where a dimension is dynamic.</summary>
    public long[] InputShape(string inputName) =>
        _inputNames.Contains(inputName) ? _session.InputMetadata[inputName].Dimensions.Select(d => (long)d).ToArray()
        : throw new ArgumentException($"{_modelPath} has no data input '{inputName}'", nameof(inputName));

    private float[] RunWith(WeightBinding? binding, string inputName, float[] input, long[] inputShape, string outputName, out long[] outputShape)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(inputShape);
        if (!_inputNames.Contains(inputName))
            throw new ArgumentException($"{_modelPath} has no data input '{inputName}'; its inputs are: {string.Join(", ", InputNames)}.", nameof(inputName));
        if (!_outputNames.Contains(outputName))
            throw new ArgumentException($"{_modelPath} has no output '{outputName}'; its outputs are: {string.Join(", ", OutputNames)}.", nameof(outputName));
        long count = inputShape.Aggregate(1L, (a, d) => d < 0 ? throw new ArgumentException($"input shape [{string.Join(", ", inputShape)}] has a negative dimension.", nameof(inputShape)) : checked(a * d));
        if (count != input.Length)
            throw new ArgumentException($"input shape [{string.Join(", ", inputShape)}] needs {count} elements but {input.Length} were given.", nameof(input));

        _lock.EnterReadLock();
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (binding is { IsDisposed: true }) throw new ObjectDisposedException(nameof(WeightBinding), "these weights were released (their model was retired)");
            OrtValue[] weights = binding is null ? _bound : binding.Values;
            if (weights.Length != _weightNames.Length)
                throw new InvalidOperationException($"{_modelPath}: this session has no weights of its own; run it with a WeightBinding (Bind).");
            using OrtValue value = OrtValue.CreateTensorValueFromMemory(input, inputShape);
            var names = new string[_weightNames.Length + 1];
            var values = new OrtValue[weights.Length + 1];
            _weightNames.CopyTo(names, 0);
            weights.CopyTo(values, 0);
            names[^1] = inputName;
            values[^1] = value;
            using IDisposableReadOnlyCollection<OrtValue> results = _session.Run(_runOptions, names, values, [outputName]);
            OrtValue output = results.First();
            OrtTensorTypeAndShapeInfo info = output.GetTensorTypeAndShape();
            if (info.ElementDataType != TensorElementType.Float)
                throw new InvalidOperationException($"{_modelPath}: output '{outputName}' is {info.ElementDataType}, not float32.");
            outputShape = info.Shape;
            return output.GetTensorDataAsSpan<float>().ToArray();
        }
        finally
        {
            _lock.ExitReadLock();
        }
    }

    /// <summary>
    /// Task switch for <see cref="SessionMode.WeightsAsInputs"/>: binds <paramref name="weights"/> in place of the
    /// current set, which is then freed. Ownership of <paramref name="weights"/> passes to the session in every case
    /// (on failure it is freed and the current weights stay bound).
    /// </summary>
    /// <exception cref="InvalidOperationException">The session is <see cref="SessionMode.Embedded"/>: create a new session instead.</exception>
    /// <exception cref="OnnxModelException">The weights do not match the model's weight inputs.</exception>
    public void Rebind(WeightSet weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        OrtValue[] bound;
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (Mode != SessionMode.WeightsAsInputs)
                throw new InvalidOperationException($"{_modelPath}: an Embedded session has its weights built into the model; create a new ModelSession to switch tasks.");
            OnnxModelRewriter.CheckWeights(_modelPath, _weightInputs, weights);
            bound = Bind(_weightInputs, weights);
        }
        catch
        {
            weights.Dispose();
            throw;
        }

        OrtValue[] oldBound = bound;
        WeightSet? oldWeights = weights;
        bool disposed;
        _lock.EnterWriteLock();
        try
        {
            disposed = _disposed;
            if (!disposed)
            {
                (oldBound, _bound) = (_bound, bound);
                (oldWeights, _weights) = (_weights, weights);
            }
        }
        finally
        {
            _lock.ExitWriteLock();
        }
        foreach (OrtValue v in oldBound) v.Dispose(); // the OrtValues point into the weights: release them first
        oldWeights?.Dispose();
        ObjectDisposedException.ThrowIf(disposed, this);
    }

    /// <summary>
    /// Binds <paramref name="weights"/> for runs of this <see cref="SessionMode.WeightsAsInputs"/> session, without
    /// touching its own weights: several bindings can serve at once (each request names its own). Ownership of the
    /// weights passes to the binding (on failure they are freed).
    /// </summary>
    public WeightBinding Bind(WeightSet weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        try
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (Mode != SessionMode.WeightsAsInputs)
                throw new InvalidOperationException($"{_modelPath}: an Embedded session has its weights built into the model; it binds none.");
            OnnxModelRewriter.CheckWeights(_modelPath, _weightInputs, weights);
            return new WeightBinding(this, weights, Bind(_weightInputs, weights));
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A weight set bound to a shared session: the OrtValues over its native memory. Disposing it frees the weights;
    /// <see cref="DisposeKeepingWeights"/> hands them back for the next merge to refill.
    /// </summary>
    public sealed class WeightBinding : IDisposable
    {
        private WeightSet? _weights;

        internal WeightBinding(ModelSession session, WeightSet weights, OrtValue[] values) => (Session, _weights, Values) = (session, weights, values);

        internal ModelSession Session { get; }
        internal OrtValue[] Values { get; private set; }
        /// <summary>The bound weights (the OrtValues point into them), or null once disposed.</summary>
        internal WeightSet? Weights => _weights;
        public bool IsDisposed { get; private set; }

        public WeightSet? DisposeKeepingWeights()
        {
            IsDisposed = true;
            foreach (OrtValue v in Values) v.Dispose(); // the OrtValues point into the weights: release them first
            Values = [];
            return Interlocked.Exchange(ref _weights, null);
        }

        public void Dispose() => DisposeKeepingWeights()?.Dispose();
    }

    /// <summary>The weights bound to this session's own runs (<see cref="SessionMode.WeightsAsInputs"/>), or null.</summary>
    internal WeightSet? BoundWeights => _weights;

    public void Dispose() => Close()?.Dispose();

    /// <summary>
    /// Disposes the session like <see cref="Dispose"/> but hands the bound weights back instead of freeing them, so
    /// a host can refill them for its next merge (allocating and first touching model-sized memory is the slowest
    /// part of a switch on many systems). Null for <see cref="SessionMode.Embedded"/> or when already disposed.
    /// </summary>
    public WeightSet? DisposeKeepingWeights() => Close();

    private WeightSet? Close()
    {
        WeightSet? weights;
        _lock.EnterWriteLock();
        try
        {
            if (_disposed) return null;
            _disposed = true;
            _session.Dispose();
            _sessionOptions.Dispose();
            foreach (OrtValue v in _bound) v.Dispose(); // the OrtValues point into the weights: release them first
            _bound = [];
            weights = _weights;
            _weights = null;
            _runOptions.Dispose();
        }
        finally
        {
            _lock.ExitWriteLock();
        }
        return weights;
        // _lock is not disposed: a thread blocked in Run would then fail with an unrelated exception instead of
        // ObjectDisposedException; it holds no native handle until contended and is finalizable.
    }

    /// <summary>One OrtValue per weight over the WeightSet's native memory, zero-copy (the OrtValue does not own it).</summary>
    private static OrtValue[] Bind(IReadOnlyList<OnnxInitializer> inputs, WeightSet weights)
    {
        var bound = new OrtValue[inputs.Count];
        int created = 0;
        try
        {
            for (; created < bound.Length; created++)
            {
                OnnxInitializer w = inputs[created];
                bound[created] = OrtValue.CreateTensorValueWithData(OrtMemoryInfo.DefaultInstance, TensorElementType.Float,
                    w.Dims, weights.Pointer(w.Name), checked(w.ElementCount * sizeof(float)));
            }
            return bound;
        }
        catch
        {
            for (int i = 0; i < created; i++) bound[i].Dispose();
            throw;
        }
    }

    private static (InferenceSession, SessionOptions, ExecutionProvider, string?) CreateSession(string modelPath, byte[] model, InferenceOptions options)
    {
        ExecutionProviders.MarkOrtUsed();
        SessionOptions sessionOptions = NewSessionOptions(options);
        string? note = null;
        try
        {
            ExecutionProvider provider = ExecutionProviders.Append(sessionOptions, options.Provider, options.DeviceId, out note);
            try
            {
                return (new InferenceSession(model, sessionOptions), sessionOptions, provider, note);
            }
            catch (OnnxRuntimeException e) when (provider != ExecutionProvider.Cpu)
            {
                // The provider registered but could not start (no GPU, driver/library mismatch): retry on CPU.
                sessionOptions.Dispose();
                sessionOptions = NewSessionOptions(options);
                note = $"{provider} execution provider was registered but the session could not start on it ({e.Message.Trim()}); running on CPU.";
                return (new InferenceSession(model, sessionOptions), sessionOptions, ExecutionProvider.Cpu, note);
            }
        }
        catch (OnnxRuntimeException e)
        {
            sessionOptions.Dispose();
            throw new OnnxModelException(modelPath, null, $"ONNX Runtime could not load the model: {e.Message.Trim()}", e);
        }
        catch
        {
            sessionOptions.Dispose();
            throw;
        }
    }

    private static SessionOptions NewSessionOptions(InferenceOptions options)
    {
        var sessionOptions = new SessionOptions { GraphOptimizationLevel = options.OptimizationLevel };
        if (options.IntraOpThreads > 0) sessionOptions.IntraOpNumThreads = options.IntraOpThreads;
        return sessionOptions;
    }
}
