using System.Runtime.InteropServices;

namespace EdgeTvq.Merging;

/// <summary>
/// Named float32 tensors in native memory (64-byte aligned, never moved by the GC), the single owner of that memory:
/// merged weights are built into a WeightSet and handed to an inference session, which binds the buffers zero-copy
/// and disposes the set when it is disposed itself.
/// </summary>
public sealed unsafe class WeightSet : IDisposable
{
    private readonly List<Entry> _entries = [];
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private bool _disposed;

    private sealed class Entry(string name, long[] shape, float* data, long count)
    {
        public string Name { get; } = name;
        public long[] Shape { get; } = shape;
        public float* Data { get; set; } = data;
        public long Count { get; } = count;
    }

    public int Count => _entries.Count;
    public IEnumerable<string> Names => _entries.Select(e => e.Name);
    public long TotalElements => _entries.Sum(e => e.Count);

    /// <summary>Allocates a zero-filled tensor.</summary>
    public Span<float> Add(string name, long[] shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long count = shape.Aggregate(1L, (a, d) => checked(a * d));
        if (count > int.MaxValue) throw new ArgumentException($"tensor '{name}' has {count} elements; at most {int.MaxValue}");
        if (_index.ContainsKey(name)) throw new ArgumentException($"tensor '{name}' added twice");
        var data = (float*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, count) * sizeof(float), 64);
        new Span<float>(data, (int)count).Clear();
        _index[name] = _entries.Count;
        _entries.Add(new Entry(name, (long[])shape.Clone(), data, count));
        return new Span<float>(data, (int)count);
    }

    public bool Contains(string name) => _index.ContainsKey(name);

    /// <summary>True when this set holds exactly these tensors, in this order, with these shapes (so it can be refilled).</summary>
    public bool HasLayout(IReadOnlyList<(string Name, long[] Shape)> layout)
    {
        if (_disposed || layout.Count != _entries.Count) return false;
        for (int i = 0; i < layout.Count; i++)
            if (_entries[i].Name != layout[i].Name || !_entries[i].Shape.AsSpan().SequenceEqual(layout[i].Shape)) return false;
        return true;
    }

    public long[] ShapeOf(string name) => Get(name).Shape;

    public Span<float> Span(string name)
    {
        var e = Get(name);
        return new Span<float>(e.Data, (int)e.Count);
    }

    /// <summary>Address of the tensor's first element; valid until this set is disposed.</summary>
    public IntPtr Pointer(string name) => (IntPtr)Get(name).Data;

    private Entry Get(string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _index.TryGetValue(name, out int i) ? _entries[i] : throw new KeyNotFoundException($"no tensor '{name}' in this weight set");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var e in _entries)
        {
            NativeMemory.AlignedFree(e.Data);
            e.Data = null;
        }
    }
}
