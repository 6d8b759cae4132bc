using System.Numerics.Tensors;
using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Merging.Streaming;

/// <summary>One table tensor as a streaming pass sees it: its position in the table (non-skipped tensors), name and shape.</summary>
public readonly record struct TensorInfo(int Index, string Name, long[] Shape, int Length);

/// <summary>
/// The selected tasks' dequantized task vectors τ̂_t of one tensor, in buffers owned by the merge and reused for every
/// tensor (T × the largest tensor). Valid until the stream moves to the next tensor; a method may change them in place.
/// </summary>
public sealed class TaskVectors
{
    private readonly float[][] _buffers;

    public TaskVectors(int tasks, int capacity)
    {
        _buffers = new float[tasks][];
        for (int t = 0; t < tasks; t++) _buffers[t] = new float[capacity];
    }

    /// <summary>Number of tasks T.</summary>
    public int Count => _buffers.Length;

    /// <summary>Elements of the current tensor.</summary>
    public int Length { get; internal set; }

    public Span<float> this[int task] => _buffers[task].AsSpan(0, Length);

    /// <summary>The buffers themselves (each at least <see cref="Length"/> long), for per-entry loops over tasks.</summary>
    internal float[][] Buffers => _buffers;
}

/// <summary>
/// One pass over a bundle: the selected tasks' files and, for RTVQ, the base file (or the cached dq(base)) are read
/// front to back in lockstep through a <see cref="BundleStream"/> (every record checksum-verified and checked against §4.3), and for each non-skipped table tensor in canonical order
/// the tasks' τ̂ are decoded into <see cref="TaskVectors"/>:
/// <code>
///   TVQ: τ̂ = dq(task)     RTVQ: τ̂ = dq(offset) + dq(base)     FQ: τ̂ = dq(θ_t) − θ_pre     full tensors: τ as stored
/// </code>
/// exactly as <see cref="TaskDecoder.Decode"/> computes them (same decode, same float operations), so a method fed by
/// this stream sees the same numbers as one fed by the decoder.
/// </summary>
internal sealed class TaskVectorStream : IDisposable
{
    private readonly BundleManifest _m;
    private readonly PackOptions _o;
    private readonly ITensorSource _pretrained;
    private readonly IReadOnlyList<TaskEntry> _tasks;
    private readonly BundleStream _files;
    private readonly WeightSet? _cachedBase, _fillBase;
    private readonly List<TensorEntry> _stored;
    private readonly TaskVectors _vectors;
    private readonly float[] _baseBuffer, _preBuffer;
    private int _next;

    public IReadOnlyDictionary<string, TaskMetadata> Metadata { get; }
    public TensorInfo Current { get; private set; }
    public TensorEntry CurrentEntry => _stored[_next - 1];

    /// <param name="cachedBase">dq(base) per tensor from a <see cref="MergeCache"/>; the base file is then not read</param>
    /// <param name="fillBase">when given (and no cached base), dq(base) of every tensor is also kept here</param>
    public TaskVectorStream(string bundleDir, BundleManifest m, ITensorSource pretrained, IReadOnlyList<TaskEntry> tasks, TaskVectors vectors,
        WeightSet? cachedBase, WeightSet? fillBase)
    {
        (_m, _o, _pretrained, _tasks, _vectors, _cachedBase) = (m, ManifestIO.OptionsOf(m), pretrained, tasks, vectors, cachedBase);
        _stored = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        int capacity = (int)_stored.Select(e => e.ElementCount).DefaultIfEmpty(0).Max();
        _baseBuffer = new float[m.Base is not null && cachedBase is null && fillBase is null ? capacity : 0];
        _preBuffer = new float[_o.Scheme == Scheme.Fq ? capacity : 0];
        _files = BundleStream.Open(bundleDir, m, tasks, readBase: cachedBase is null);
        if (_files.ReadsBase) _fillBase = fillBase;
        var metadata = new Dictionary<string, TaskMetadata>();
        for (int t = 0; t < tasks.Count; t++) metadata[tasks[t].Name] = _files.Metadata[t]!;
        Metadata = metadata;
    }

    public int TensorCount => _stored.Count;

    /// <summary>Decodes the next tensor's τ̂ for every task; false after the last table tensor.</summary>
    public bool MoveNext()
    {
        if (_next == _stored.Count) return false;
        if (!_files.MoveNext()) throw new InvalidOperationException("the bundle stream ended before the table");
        var e = _stored[_next++];
        int length = (int)e.ElementCount;
        _vectors.Length = length;
        Current = new TensorInfo(_next - 1, e.Name, e.Shape, length);
        bool quantized = e.Storage == "quantized";

        ReadOnlySpan<float> baseHat = default;
        bool hasBase = false;
        if (quantized && _cachedBase is not null)
        {
            baseHat = _cachedBase.Span(e.Name);
            hasBase = true;
        }
        else if (_files.BaseRecord is { } b)
        {
            var target = _fillBase is not null ? _fillBase.Span(e.Name) : _baseBuffer.AsSpan(0, length);
            b.DecodeTo(target, _o.Mode);
            baseHat = target;
            hasBase = true;
        }
        bool fqValues = quantized && _o.Scheme == Scheme.Fq; // FQ records hold dq(θ_t): τ̂ = dq(θ_t) − θ_pre
        if (fqValues) _pretrained.ReadFloat32(e.Name, _preBuffer.AsSpan(0, length));

        for (int t = 0; t < _tasks.Count; t++)
        {
            var r = _files.TaskRecord(t);
            var tau = _vectors[t];
            r.DecodeTo(tau, _o.Mode);
            if (hasBase) TensorPrimitives.Add(tau, baseHat, tau);
            if (fqValues) TensorPrimitives.Subtract(tau, _preBuffer.AsSpan(0, length), tau);
        }
        return true;
    }

    /// <summary>
    /// After the last tensor: reads every task's own tensors (into <paramref name="own"/> for the tasks
    /// <paramref name="keepOwn"/> accepts), then checks every file's trailer, length and SHA-256.
    /// </summary>
    public void Finish(Func<string, bool>? keepOwn = null, Dictionary<string, WeightSet>? own = null, Dictionary<string, Dictionary<string, byte[]>>? blobs = null)
    {
        if (_next != _stored.Count) throw new InvalidOperationException("the pass stopped before the last tensor");
        for (int t = 0; t < _tasks.Count; t++)
        {
            var entry = _tasks[t];
            WeightSet? set = null;
            if (own is not null && keepOwn?.Invoke(entry.Name) == true) own[entry.Name] = set = new WeightSet();
            Dictionary<string, byte[]>? taskBlobs = set is not null && blobs is not null ? blobs[entry.Name] = [] : null;
            _files.ReadOwn(t, set is null ? null : (int _, OwnTensorEntry o, in BundleRecord r) => r.DecodeTo(set.Add(o.Name, o.Shape), _o.Mode),
                taskBlobs is null ? null : (int _, OwnBlobEntry b, in BundleRecord r) => taskBlobs[b.Name] = System.Buffers.BuffersExtensions.ToArray(r.Payload));
        }
        _files.Finish();
    }

    public void Dispose() => _files.Dispose();
}
