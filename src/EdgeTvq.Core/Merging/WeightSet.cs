using System.Runtime.InteropServices;
using EdgeTvq.IO;

namespace EdgeTvq.Merging;

/// <summary>
/// Named float32 tensors in native memory (64-byte aligned, never moved by the GC), the single owner of that memory:
/// merged weights are built into a WeightSet and handed to an inference session, which binds the buffers zero-copy
/// and disposes the set when it is disposed itself. A set made by <see cref="Allocate"/> keeps all its tensors in one
/// <see cref="HugePageArena"/> (merged weights, θ_pre, dq(base)); one grown by <see cref="Add"/> allocates per tensor
/// (small sets such as a task's head).
/// </summary>
public sealed unsafe class WeightSet : IDisposable
{
    private readonly List<Entry> _entries = [];
    private readonly HugePageArena? _arena;
    private readonly Dictionary<string, int> _index = new(StringComparer.Ordinal);
    private bool _disposed;

    private sealed class Entry(string name, long[] shape, float* data, long count)
    {
        public string Name { get; } = name;
        public long[] Shape { get; } = shape;
        public float* Data { get; set; } = data;
        public long Count { get; } = count;
    }

    public WeightSet() { }

    private WeightSet(HugePageArena arena) => _arena = arena;

    /// <summary>
    /// All of <paramref name="layout"/>'s tensors in one huge-page arena, in this order. Unlike <see cref="Add"/>, the
    /// contents are not cleared: the caller overwrites every element (a merge writes θ_pre first).
    /// </summary>
    public static WeightSet Allocate(IReadOnlyList<(string Name, long[] Shape)> layout)
    {
        var counts = layout.Select(t => ElementsOf(t.Name, t.Shape)).ToList();
        var (offsets, total) = HugePageArena.Layout(counts.Select(c => c * sizeof(float)).ToList());
        var set = new WeightSet(new HugePageArena(total));
        try
        {
            for (int i = 0; i < layout.Count; i++)
            {
                if (set._index.ContainsKey(layout[i].Name)) throw new ArgumentException($"tensor '{layout[i].Name}' listed twice");
                set._index[layout[i].Name] = i;
                set._entries.Add(new Entry(layout[i].Name, (long[])layout[i].Shape.Clone(), (float*)(set._arena!.Pointer + offsets[i]), counts[i]));
            }
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>Whether the tensors live in one huge-page arena (<see cref="Allocate"/>) and the kernel took the advice.</summary>
    public bool UsesHugePages => _arena?.HugePagesAdvised == true;

    private static long ElementsOf(string name, long[] shape)
    {
        long count = shape.Aggregate(1L, (a, d) => checked(a * d));
        if (count > int.MaxValue) throw new ArgumentException($"tensor '{name}' has {count} elements; at most {int.MaxValue}");
        return count;
    }

    public int Count => _entries.Count;
    public IEnumerable<string> Names => _entries.Select(e => e.Name);
    public long TotalElements => _entries.Sum(e => e.Count);

    /// <summary>Allocates a zero-filled tensor.</summary>
    public Span<float> Add(string name, long[] shape)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_arena is not null) throw new InvalidOperationException("a weight set allocated as one arena has a fixed layout");
        long count = ElementsOf(name, shape);
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
            if (_arena is null) NativeMemory.AlignedFree(e.Data);
            e.Data = null;
        }
        _arena?.Dispose();
    }
}
