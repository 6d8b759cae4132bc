using System.Numerics;

namespace EdgeTvq.Checkpoints.Pytorch;

// Inert values the restricted unpickler builds. Python ints become long (or BigInteger), floats double,
// str string, bytes byte[], None null, True/False bool. Nothing here can run code.

internal sealed class PickleTuple(object?[] items)
{
    public object?[] Items { get; } = items;
    public static readonly PickleTuple Empty = new([]);
}

internal sealed class PickleList
{
    public List<object?> Items { get; } = [];
}

/// <summary>Python set/frozenset: items in insertion order (duplicates are harmless for our uses).</summary>
internal sealed class PickleSet
{
    public List<object?> Items { get; } = [];
}

/// <summary>An insertion-ordered dict (covers dict and collections.OrderedDict).</summary>
internal sealed class PickleDict
{
    private readonly Dictionary<object, int> _index = new(PickleKeyComparer.Instance);
    private int _noneKeyIndex = -1;

    public List<KeyValuePair<object?, object?>> Entries { get; } = [];

    public void Set(object? key, object? value)
    {
        if (key is null)
        {
            if (_noneKeyIndex >= 0) Entries[_noneKeyIndex] = new(null, value);
            else { _noneKeyIndex = Entries.Count; Entries.Add(new(null, value)); }
            return;
        }
        if (_index.TryGetValue(key, out int i))
        {
            Entries[i] = new(Entries[i].Key, value);
        }
        else
        {
            _index[key] = Entries.Count;
            Entries.Add(new(key, value));
        }
    }

    public object? Get(string key) => _index.TryGetValue(key, out int i) ? Entries[i].Value : null;
}

/// <summary>A reference to module.name found by GLOBAL/STACK_GLOBAL; <see cref="Kind"/> says what it maps to natively.</summary>
internal sealed class PickleGlobal(string module, string name, GlobalKind kind, TensorDType dtype)
{
    public string Module { get; } = module;
    public string Name { get; } = name;
    public GlobalKind Kind { get; } = kind;

    /// <summary>For storage classes and torch dtypes: the element type.</summary>
    public TensorDType DType { get; } = dtype;

    public string FullName => Module + "." + Name;
}

/// <summary>
/// An instance of a class that is not native (e.g. an nn.Module subclass) created without calling it:
/// only its pickled state (usually the instance __dict__) is kept.
/// </summary>
internal sealed class PickleObject(PickleGlobal type)
{
    public PickleGlobal Type { get; } = type;
    public object? State { get; set; }
    public List<object?> ListItems { get; } = [];
    public List<KeyValuePair<object?, object?>> DictItems { get; } = [];
}

/// <summary>A storage named by a persistent id: ('storage', storage_type, key, location, numel).</summary>
internal sealed class TorchStorage(string key, TensorDType dtype, string location, long numel)
{
    public string Key { get; } = key;
    public TensorDType DType { get; } = dtype;
    public string Location { get; } = location;
    public long Numel { get; } = numel;
}

/// <summary>A tensor view: storage + element offset + size + stride (torch._utils._rebuild_tensor_v2).</summary>
internal sealed class TorchTensor(TorchStorage storage, long offset, long[] size, long[] stride)
{
    public TorchStorage Storage { get; } = storage;
    public long Offset { get; } = offset;
    public long[] Size { get; } = size;
    public long[] Stride { get; } = stride;
}

/// <summary>Structural equality for hashable pickle values used as dict keys; identity for everything else.</summary>
internal sealed class PickleKeyComparer : IEqualityComparer<object>
{
    public static readonly PickleKeyComparer Instance = new();
    private const int MaxDepth = 8; // bounds the cost of hashing nested (possibly shared) tuples

    public new bool Equals(object? x, object? y) => EqualsAt(x, y, 0);

    public int GetHashCode(object obj) => HashAt(obj, 0);

    private static bool EqualsAt(object? x, object? y, int depth)
    {
        if (ReferenceEquals(x, y)) return true;
        if (x is null || y is null) return false;
        switch (x)
        {
            case string s: return y is string t && string.Equals(s, t, StringComparison.Ordinal);
            case long or bool or double or BigInteger: return x.Equals(y);
            case byte[] a: return y is byte[] b && a.AsSpan().SequenceEqual(b);
            case PickleTuple tx when y is PickleTuple ty && depth < MaxDepth:
                if (tx.Items.Length != ty.Items.Length) return false;
                for (int i = 0; i < tx.Items.Length; i++)
                    if (!EqualsAt(tx.Items[i], ty.Items[i], depth + 1)) return false;
                return true;
            default: return false;
        }
    }

    private static int HashAt(object? obj, int depth)
    {
        switch (obj)
        {
            case null: return 0;
            case string s: return StringComparer.Ordinal.GetHashCode(s);
            case long or bool or double or BigInteger: return obj.GetHashCode();
            case byte[] a:
            {
                var h = new HashCode();
                h.AddBytes(a);
                return h.ToHashCode();
            }
            case PickleTuple t:
            {
                var h = new HashCode();
                if (depth < MaxDepth)
                    foreach (object? item in t.Items) h.Add(HashAt(item, depth + 1));
                return h.ToHashCode();
            }
            default: return System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(obj);
        }
    }
}
