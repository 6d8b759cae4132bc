using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Text;
using static EdgeTvq.Checkpoints.Pytorch.PickleOpcodes;

namespace EdgeTvq.Checkpoints.Pytorch;

/// <summary>
/// A restricted unpickler. It interprets the pickle opcodes of protocols 0-5 into inert values
/// (see PickleValues.cs). Globals resolve against <see cref="PickleGlobals"/>; calling anything not on
/// that allow-list (REDUCE, NEWOBJ with arguments, INST, OBJ) is refused. No Python code is ever run.
/// </summary>
internal sealed class PickleMachine
{
    private const int HighestProtocol = 5;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly string _path;
    private readonly string _pickleName;
    private readonly byte[] _data;
    private readonly Func<object?, object?> _persistentLoad;
    private readonly Dictionary<long, object?> _memo = [];
    private readonly Stack<List<object?>> _metastack = new();
    private List<object?> _stack = [];
    private int _pos;
    private int _opStart;

    private PickleMachine(string path, string pickleName, byte[] data, Func<object?, object?> persistentLoad)
    {
        _path = path;
        _pickleName = pickleName;
        _data = data;
        _persistentLoad = persistentLoad;
    }

    /// <summary>Unpickles <paramref name="data"/>; <paramref name="persistentLoad"/> resolves persistent ids.</summary>
    public static object? Load(string path, string pickleName, byte[] data, Func<object?, object?> persistentLoad) =>
        new PickleMachine(path, pickleName, data, persistentLoad).Run();

    private object? Run()
    {
        while (true)
        {
            _opStart = _pos;
            byte op = ReadByte();
            switch (op)
            {
                case Proto:
                    int protocol = ReadByte();
                    if (protocol > HighestProtocol) throw Unsupported($"uses pickle protocol {protocol}; protocols 0-{HighestProtocol} are supported");
                    break;
                case Frame:
                    ulong frame = ReadUInt64();
                    if (frame > (ulong)(_data.Length - _pos)) throw Corrupt($"declares a {frame}-byte frame but only {_data.Length - _pos} bytes remain");
                    break;
                case Stop:
                    return Pop();

                case Mark:
                    _metastack.Push(_stack);
                    _stack = [];
                    break;
                case PickleOpcodes.Pop:
                    if (_stack.Count > 0) Pop(); else PopMark();
                    break;
                case PickleOpcodes.PopMark:
                    PopMark();
                    break;
                case Dup:
                    Push(Peek());
                    break;

                case None: Push(null); break;
                case NewTrue: Push(true); break;
                case NewFalse: Push(false); break;
                case BinInt: Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadSpan(4))); break;
                case BinInt1: Push((long)ReadByte()); break;
                case BinInt2: Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadSpan(2))); break;
                case Long1: Push(ReadLittleEndianInteger(ReadByte())); break;
                case Long4: Push(ReadLittleEndianInteger(ReadLength32())); break;
                case Int: Push(ParseTextInt(ReadLineAscii())); break;
                case PickleOpcodes.Long: Push(ParseTextLong(ReadLineAscii())); break;
                case PickleOpcodes.Float: Push(ParseDouble(ReadLineAscii())); break;
                case BinFloat: Push(BinaryPrimitives.ReadDoubleBigEndian(ReadSpan(8))); break;

                case BinUnicode: Push(DecodeUtf8(ReadSpan(ReadLength32()))); break;
                case ShortBinUnicode: Push(DecodeUtf8(ReadSpan(ReadByte()))); break;
                case BinUnicode8: Push(DecodeUtf8(ReadSpan(ReadLength64()))); break;
                case PickleOpcodes.Unicode: Push(DecodeRawUnicodeEscape(ReadLine())); break;
                case PickleOpcodes.String: Push(DecodeQuotedString(ReadLineAscii())); break;
                case BinString: Push(Encoding.Latin1.GetString(ReadSpan(ReadLength32()))); break;
                case ShortBinString: Push(Encoding.Latin1.GetString(ReadSpan(ReadByte()))); break;
                case BinBytes: Push(ReadSpan(ReadLength32()).ToArray()); break;
                case ShortBinBytes: Push(ReadSpan(ReadByte()).ToArray()); break;
                case BinBytes8: Push(ReadSpan(ReadLength64()).ToArray()); break;
                case ByteArray8: Push(ReadSpan(ReadLength64()).ToArray()); break;

                case EmptyTuple: Push(PickleTuple.Empty); break;
                case Tuple1: Push(new PickleTuple([Pop()])); break;
                case Tuple2: { object? b = Pop(), a = Pop(); Push(new PickleTuple([a, b])); break; }
                case Tuple3: { object? c = Pop(), b = Pop(), a = Pop(); Push(new PickleTuple([a, b, c])); break; }
                case PickleOpcodes.Tuple: Push(new PickleTuple(PopMark().ToArray())); break;
                case EmptyList: Push(new PickleList()); break;
                case PickleOpcodes.List: { var l = new PickleList(); l.Items.AddRange(PopMark()); Push(l); break; }
                case EmptyDict: Push(new PickleDict()); break;
                case PickleOpcodes.Dict: { var d = new PickleDict(); AddPairs(d, PopMark()); Push(d); break; }
                case EmptySet: Push(new PickleSet()); break;
                case PickleOpcodes.FrozenSet: { var s = new PickleSet(); s.Items.AddRange(PopMark()); Push(s); break; }

                case Append: { object? v = Pop(); AppendTo(Peek(), [v]); break; }
                case Appends: { var items = PopMark(); AppendTo(Peek(), items); break; }
                case AddItems:
                {
                    var items = PopMark();
                    if (Peek() is not PickleSet set) throw Corrupt($"ADDITEMS targets a {Describe(Peek())}, not a set");
                    set.Items.AddRange(items);
                    break;
                }
                case SetItem: { object? v = Pop(), k = Pop(); SetItemsOn(Peek(), [k, v]); break; }
                case SetItems: { var items = PopMark(); SetItemsOn(Peek(), items); break; }

                case Put: Memo(ParseMemoIndex(ReadLineAscii())); break;
                case BinPut: Memo(ReadByte()); break;
                case LongBinPut: Memo(BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4))); break;
                case Memoize: Memo(_memo.Count); break;
                case Get: Push(Recall(ParseMemoIndex(ReadLineAscii()))); break;
                case BinGet: Push(Recall(ReadByte())); break;
                case LongBinGet: Push(Recall(BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4)))); break;

                case Global:
                {
                    string module = ReadLineAscii(), name = ReadLineAscii();
                    Push(PickleGlobals.Resolve(module, name));
                    break;
                }
                case StackGlobal:
                {
                    object? name = Pop(), module = Pop();
                    if (module is not string m || name is not string n) throw Corrupt("STACK_GLOBAL needs two strings (module, name)");
                    Push(PickleGlobals.Resolve(m, n));
                    break;
                }
                case Reduce:
                {
                    object? args = Pop(), callable = Pop();
                    Push(Call(callable, args));
                    break;
                }
                case NewObj:
                {
                    object? args = Pop(), cls = Pop();
                    Push(NewObject(cls, args));
                    break;
                }
                case NewObjEx:
                {
                    object? kwargs = Pop(), args = Pop(), cls = Pop();
                    if (kwargs is not PickleDict kw || kw.Entries.Count > 0) throw Corrupt("NEWOBJ_EX with keyword arguments is not supported");
                    Push(NewObject(cls, args));
                    break;
                }
                case Inst:
                {
                    string module = ReadLineAscii(), name = ReadLineAscii();
                    var args = PopMark();
                    Push(Instantiate(PickleGlobals.Resolve(module, name), new PickleTuple(args.ToArray())));
                    break;
                }
                case Obj:
                {
                    var items = PopMark();
                    if (items.Count == 0) throw Corrupt("OBJ without a class");
                    Push(Instantiate(items[0], new PickleTuple(items.Skip(1).ToArray())));
                    break;
                }
                case Build:
                {
                    object? state = Pop();
                    if (Peek() is PickleObject o) o.State = state;
                    // Any other target (an OrderedDict's _metadata, a tensor's state) carries nothing we need.
                    break;
                }
                case BinPersId: Push(_persistentLoad(Pop())); break;
                case PersId: Push(_persistentLoad(ReadLineAscii())); break;

                case Ext1 or Ext2 or Ext4:
                    throw Unsupported("uses the copyreg extension registry (EXT opcodes), which checkpoints never need");
                case NextBuffer or ReadOnlyBuffer:
                    throw Unsupported("uses out-of-band pickle buffers (protocol 5), which torch.save never writes");
                default:
                    throw Corrupt($"has unknown opcode 0x{op:X2}");
            }
        }
    }

    // ---- calls: the only place where pickles could run code; here they build inert values or are refused ----

    private object? Call(object? callable, object? argsValue)
    {
        if (callable is not PickleGlobal g) throw Corrupt($"REDUCE calls a {Describe(callable)}, which is not callable");
        object?[] args = Args(argsValue, g);
        switch (g.Kind)
        {
            case GlobalKind.RebuildTensorV2:
            case GlobalKind.RebuildTensor:
                if (args.Length < 4) throw Corrupt($"{g.FullName} expects (storage, offset, size, stride, ...), got {args.Length} arguments");
                if (args[0] is not TorchStorage storage) throw Corrupt($"{g.FullName} expects a storage, got a {Describe(args[0])}");
                return new TorchTensor(storage, AsLong(args[1], "storage offset"), AsLongs(args[2], "size"), AsLongs(args[3], "stride"));
            case GlobalKind.RebuildParameter:
            case GlobalKind.RebuildParameterWithState:
                if (args.Length < 1 || args[0] is not TorchTensor parameterData)
                    throw Corrupt($"{g.FullName} expects a tensor as first argument");
                return parameterData;
            case GlobalKind.RebuildFromTypeV2:
                // (func, new_type, args, state): rebuild with func, ignore the subclass tag and state.
                if (args.Length < 3) throw Corrupt($"{g.FullName} expects (func, type, args, state)");
                return Call(args[0], args[2]);
            case GlobalKind.OrderedDict:
            case GlobalKind.Dict:
            {
                var d = new PickleDict();
                if (args.Length > 0) CopyInto(d, args[0]);
                return d;
            }
            case GlobalKind.List:
            {
                var l = new PickleList();
                if (args.Length > 0) l.Items.AddRange(Iterate(args[0]));
                return l;
            }
            case GlobalKind.Set:
            case GlobalKind.FrozenSet:
            {
                var s = new PickleSet();
                if (args.Length > 0) s.Items.AddRange(Iterate(args[0]));
                return s;
            }
            case GlobalKind.Tuple:
            case GlobalKind.TorchSize:
                return args.Length > 0 ? new PickleTuple(Iterate(args[0]).ToArray()) : PickleTuple.Empty;
            case GlobalKind.Object:
                return new PickleObject(g);
            case GlobalKind.Reconstructor:
            {
                // copyreg._reconstructor(cls, base, state) == base.__new__(cls, state): with base object this only
                // allocates an instance of cls; its __dict__ arrives later through BUILD.
                if (args.Length != 3) throw Corrupt($"{g.FullName} expects (cls, base, state), got {args.Length} arguments");
                if (args[1] is not PickleGlobal baseType) throw Corrupt($"{g.FullName} base is a {Describe(args[1])}, not a class");
                if (baseType.Kind != GlobalKind.Object) throw Refused(baseType);
                if (args[2] is not null) throw Corrupt($"{g.FullName} with a non-None state is not supported");
                return Allocate(args[0]);
            }
            case GlobalKind.TorchDevice:
                return string.Join(":", args.Select(a => Convert.ToString(a, CultureInfo.InvariantCulture)));
            case GlobalKind.CodecsEncode:
            {
                // Protocol 2 pickles Python 3 bytes as _codecs.encode(text, 'latin1').
                if (args.Length < 1 || args[0] is not string text) throw Corrupt($"{g.FullName} expects a string");
                string encoding = args.Length > 1 && args[1] is string e ? e : "utf-8";
                return encoding.ToLowerInvariant() switch
                {
                    "latin1" or "latin-1" or "iso-8859-1" when text.All(c => c <= 0xFF) => Encoding.Latin1.GetBytes(text),
                    "utf-8" or "utf8" => Encoding.UTF8.GetBytes(text),
                    _ => throw Corrupt($"{g.FullName} with encoding '{encoding}' is not supported"),
                };
            }
            case GlobalKind.StorageType:
            case GlobalKind.UntypedStorage:
            case GlobalKind.TorchDType:
            case GlobalKind.TensorType:
                throw Unsupported($"calls {g.FullName} directly; only storages stored as zip entries (torch.save since 1.6) are supported");
            default:
                throw Refused(g);
        }
    }

    /// <summary>NEWOBJ: cls.__new__(cls, *args). For non-native classes with no arguments this allocates an inert object.</summary>
    private object? NewObject(object? cls, object? argsValue)
    {
        if (cls is not PickleGlobal g) throw Corrupt($"NEWOBJ on a {Describe(cls)}, which is not a class");
        object?[] args = Args(argsValue, g);
        if (g.Kind == GlobalKind.Foreign)
        {
            // How torch.save(model) pickles an nn.Module (protocol 2 copyreg.__newobj__): allocate, then BUILD. The
            // object stays inert (nothing of it is ever called), but only what can be a model class is accepted:
            // a CapWords name outside the modules that run programs or load code (os.system is refused, not allocated).
            if (args.Length == 0 && IsPlausibleModelClass(g)) return new PickleObject(g);
            throw Refused(g);
        }
        return IsNativeClass(g.Kind) ? Call(g, argsValue) : throw Refused(g);
    }

    /// <summary>INST/OBJ: cls(*args), which would run __init__, so only native classes are accepted.</summary>
    private object? Instantiate(object? cls, PickleTuple args)
    {
        if (cls is not PickleGlobal g) throw Corrupt($"OBJ on a {Describe(cls)}, which is not a class");
        return IsNativeClass(g.Kind) ? Call(g, args) : throw Refused(g);
    }

    private object? Allocate(object? cls)
    {
        if (cls is not PickleGlobal g) throw Corrupt($"object allocation of a {Describe(cls)}, which is not a class");
        return IsNativeClass(g.Kind) ? Call(g, PickleTuple.Empty) : new PickleObject(g);
    }

    private static readonly HashSet<string> SystemModules = new(StringComparer.Ordinal)
    {
        "os", "posix", "nt", "sys", "subprocess", "builtins", "__builtin__", "shutil", "socket", "importlib", "pickle",
        "runpy", "code", "codeop", "ctypes", "pty", "webbrowser", "multiprocessing", "signal", "io", "types", "functools",
        "operator", "marshal", "_io", "_posixsubprocess", "commands", "platform", "tempfile", "pathlib", "glob",
    };

    /// <summary>A class an nn.Module pickle may allocate: a CapWords name, and no module of the list above (nor a submodule of one).</summary>
    private static bool IsPlausibleModelClass(PickleGlobal g)
    {
        if (g.Name.Length == 0 || !char.IsAsciiLetterUpper(g.Name[0])) return false;
        string top = g.Module.Split('.')[0];
        return !SystemModules.Contains(top);
    }

    private static bool IsNativeClass(GlobalKind kind) => kind is GlobalKind.OrderedDict or GlobalKind.Dict or GlobalKind.List
        or GlobalKind.Set or GlobalKind.FrozenSet or GlobalKind.Tuple or GlobalKind.Object or GlobalKind.TorchSize;

    private object?[] Args(object? args, PickleGlobal g) =>
        args is PickleTuple t ? t.Items : throw Corrupt($"arguments for {g.FullName} are a {Describe(args)}, not a tuple");

    private void CopyInto(PickleDict d, object? source)
    {
        if (source is PickleDict other)
        {
            foreach (var kv in other.Entries) d.Set(kv.Key, kv.Value);
            return;
        }
        foreach (object? item in Iterate(source))
        {
            if (item is not PickleTuple { Items.Length: 2 } pair) throw Corrupt("dict() argument items are not (key, value) pairs");
            d.Set(pair.Items[0], pair.Items[1]);
        }
    }

    private IEnumerable<object?> Iterate(object? source) => source switch
    {
        PickleList l => l.Items,
        PickleTuple t => t.Items,
        PickleSet s => s.Items,
        PickleDict d => d.Entries.Select(e => e.Key),
        _ => throw Corrupt($"expected a sequence, found a {Describe(source)}"),
    };

    private void AppendTo(object? target, List<object?> items)
    {
        switch (target)
        {
            case PickleList l: l.Items.AddRange(items); break;
            case PickleObject o: o.ListItems.AddRange(items); break;
            default: throw Corrupt($"APPEND targets a {Describe(target)}, not a list");
        }
    }

    private void SetItemsOn(object? target, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Corrupt("SETITEMS has an odd number of items");
        switch (target)
        {
            case PickleDict d: AddPairs(d, items); break;
            case PickleObject o:
                for (int i = 0; i < items.Count; i += 2) o.DictItems.Add(new(items[i], items[i + 1]));
                break;
            default: throw Corrupt($"SETITEM targets a {Describe(target)}, not a dict");
        }
    }

    private void AddPairs(PickleDict d, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Corrupt("DICT has an odd number of items");
        for (int i = 0; i < items.Count; i += 2) d.Set(items[i], items[i + 1]);
    }

    private long AsLong(object? value, string what) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw Corrupt($"tensor {what} is a {Describe(value)}, expected an integer"),
    };

    private long[] AsLongs(object? value, string what)
    {
        if (value is not PickleTuple t) throw Corrupt($"tensor {what} is a {Describe(value)}, expected a tuple of integers");
        var result = new long[t.Items.Length];
        for (int i = 0; i < result.Length; i++) result[i] = AsLong(t.Items[i], what);
        return result;
    }

    // ---- stack and memo ----

    private void Push(object? value) => _stack.Add(value);

    private object? Pop()
    {
        if (_stack.Count == 0) throw Corrupt("pops from an empty stack");
        object? v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek() => _stack.Count > 0 ? _stack[^1] : throw Corrupt("reads from an empty stack");

    private List<object?> PopMark()
    {
        if (_metastack.Count == 0) throw Corrupt("needs a MARK that is not there");
        List<object?> items = _stack;
        _stack = _metastack.Pop();
        return items;
    }

    private void Memo(long index)
    {
        if (index < 0) throw Corrupt("uses a negative memo index");
        _memo[index] = Peek();
    }

    private object? Recall(long index) =>
        _memo.TryGetValue(index, out object? v) ? v : throw Corrupt($"recalls memo entry {index}, which was never stored");

    // ---- reading primitives (all bounds-checked) ----

    private byte ReadByte()
    {
        if (_pos >= _data.Length) throw Truncated();
        return _data[_pos++];
    }

    private ReadOnlySpan<byte> ReadSpan(long length)
    {
        if (length < 0 || length > _data.Length - _pos) throw Truncated();
        var span = _data.AsSpan(_pos, (int)length);
        _pos += (int)length;
        return span;
    }

    private ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(ReadSpan(8));

    private long ReadLength32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadSpan(4));

    private long ReadLength64()
    {
        ulong n = ReadUInt64();
        return n > (ulong)(_data.Length - _pos) ? throw Truncated() : (long)n;
    }

    private ReadOnlySpan<byte> ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0) throw Truncated();
        var line = _data.AsSpan(_pos, end - _pos);
        _pos = end + 1;
        return line;
    }

    private string ReadLineAscii()
    {
        var line = ReadLine();
        foreach (byte b in line)
            if (b >= 0x80) throw Corrupt("has a non-ASCII text argument");
        return Encoding.ASCII.GetString(line);
    }

    private object ReadLittleEndianInteger(long length)
    {
        var bytes = ReadSpan(length);
        if (bytes.Length == 0) return 0L;
        var value = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private object ParseTextInt(string text)
    {
        if (text == "00") return false;
        if (text == "01") return true;
        return ParseTextLong(text);
    }

    private object ParseTextLong(string text)
    {
        string digits = text.EndsWith('L') ? text[..^1] : text;
        if (!BigInteger.TryParse(digits, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out BigInteger value))
            throw Corrupt($"has an invalid integer literal '{Shorten(text)}'");
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private double ParseDouble(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d
        : text switch { "nan" => double.NaN, "inf" => double.PositiveInfinity, "-inf" => double.NegativeInfinity, _ => throw Corrupt($"has an invalid float literal '{Shorten(text)}'") };

    private long ParseMemoIndex(string text) =>
        long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long i) ? i : throw Corrupt($"has an invalid memo index '{Shorten(text)}'");

    private string DecodeUtf8(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw Corrupt("has a string that is not valid UTF-8");
        }
    }

    /// <summary>Protocol 0 UNICODE: latin-1 text where \uXXXX and \UXXXXXXXX are escapes.</summary>
    private string DecodeRawUnicodeEscape(ReadOnlySpan<byte> line)
    {
        var sb = new StringBuilder(line.Length);
        for (int i = 0; i < line.Length; i++)
        {
            if (line[i] == '\\' && i + 1 < line.Length && (line[i + 1] == 'u' || line[i + 1] == 'U'))
            {
                int digits = line[i + 1] == 'u' ? 4 : 8;
                if (i + 2 + digits > line.Length || !int.TryParse(Encoding.ASCII.GetString(line.Slice(i + 2, digits)), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int cp)
                    || cp < 0 || cp > 0x10FFFF)
                    throw Corrupt("has an invalid \\u escape");
                sb.Append(char.ConvertFromUtf32(cp is >= 0xD800 and <= 0xDFFF ? 0xFFFD : cp));
                i += 1 + digits;
            }
            else
            {
                sb.Append((char)line[i]);
            }
        }
        return sb.ToString();
    }

    /// <summary>Protocol 0 STRING: a Python repr of a str, in single or double quotes.</summary>
    private string DecodeQuotedString(string text)
    {
        if (text.Length < 2 || text[0] != text[^1] || (text[0] != '\'' && text[0] != '"'))
            throw Corrupt("has a STRING argument that is not quoted");
        var sb = new StringBuilder(text.Length);
        for (int i = 1; i < text.Length - 1; i++)
        {
            char c = text[i];
            if (c != '\\' || i + 1 >= text.Length - 1)
            {
                sb.Append(c);
                continue;
            }
            char e = text[++i];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '\\' or '\'' or '"': sb.Append(e); break;
                case 'x' when i + 2 < text.Length - 1 && byte.TryParse(text.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte b):
                    sb.Append((char)b);
                    i += 2;
                    break;
                default: sb.Append('\\').Append(e); break;
            }
        }
        return sb.ToString();
    }

    // ---- errors ----

    internal static string Describe(object? value) => value switch
    {
        null => "None",
        long or BigInteger => "int",
        bool => "bool",
        double => "float",
        string => "str",
        byte[] => "bytes",
        PickleTuple => "tuple",
        PickleList => "list",
        PickleDict => "dict",
        PickleSet => "set",
        PickleGlobal g => $"reference to '{g.FullName}'",
        PickleObject o => $"'{o.Type.FullName}' object",
        TorchStorage => "storage",
        TorchTensor => "tensor",
        _ => value.GetType().Name,
    };

    private static string Shorten(string s) => s.Length <= 40 ? s : s[..40] + "...";

    private CheckpointFormatException Refused(PickleGlobal g) => CheckpointFormatException.Create(_path, null,
        $"{_pickleName} refers to global '{g.FullName}', which is not a tensor or container type; EdgeTvq never runs code from checkpoints. " +
        "Save a plain state_dict with torch.save(model.state_dict(), path).");

    private CheckpointFormatException Corrupt(string detail) => CheckpointFormatException.Create(_path, null,
        $"{_pickleName} {detail} (opcode at byte {_opStart}). The checkpoint is corrupt or not written by torch.save; re-save it with torch.save(model.state_dict(), path).");

    private CheckpointFormatException Truncated() => CheckpointFormatException.Create(_path, null,
        $"{_pickleName} ends in the middle of an opcode at byte {_opStart} of {_data.Length}. The file is truncated or corrupt; copy or re-save it.");

    private CheckpointFormatException Unsupported(string detail) => CheckpointFormatException.Create(_path, null,
        $"{_pickleName} {detail}. Re-save it with torch.save(model.state_dict(), path) from a current PyTorch.");
}
