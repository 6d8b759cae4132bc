using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using EdgeTvq.Checkpoints;
using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Mutation;
using EdgeTvq.Fuzz.Seeds;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>Shared by the checkpoint targets: open through <see cref="CheckpointReader.Open"/> and read every tensor.</summary>
public abstract class CheckpointTarget : IFuzzTarget
{
    public abstract string Name { get; }
    protected abstract string FileName { get; }
    public IReadOnlySet<Type> Expected { get; } = new HashSet<Type> { typeof(CheckpointFormatException) };
    public abstract IReadOnlyList<byte[]> Seeds(string scratch);
    public abstract byte[] Mutate(byte[] input, Random rng);

    public virtual void Run(byte[] input, string scratch)
    {
        string path = Path.Combine(scratch, FileName);
        File.WriteAllBytes(path, input);
        using var ckpt = CheckpointReader.Open(path);
        foreach (var t in ckpt.Tensors)
        {
            if (!ReferenceEquals(ckpt.Find(t.Name), t) && ckpt.Find(t.Name) is null)
                throw new FuzzInvariantException($"tensor '{t.Name}' is listed but Find does not return it");
            if (t.IsFloating)
            {
                var values = t.ToFloat32Array();
                CheckpointTensor.TryFindNonFinite(t, out _);
                if (values.LongLength != t.ElementCount) throw new FuzzInvariantException($"tensor '{t.Name}': {values.Length} values for {t.ElementCount} elements");
            }
            else _ = t.RawBytes.Length;
        }
    }
}

/// <summary>safetensors: u64 header length, JSON header, data. The JSON header is mutated structurally and its length rewritten.</summary>
public sealed class SafetensorsTarget : CheckpointTarget
{
    public override string Name => "safetensors";
    protected override string FileName => "case.safetensors";

    public override IReadOnlyList<byte[]> Seeds(string scratch)
    {
        Directory.CreateDirectory(scratch);
        var seeds = new List<byte[]>();
        string a = Path.Combine(scratch, "a.safetensors");
        SafetensorsWriter.WriteFloat32(a, [("w", [2, 3], [1, 2, 3, 4, 5, 6]), ("b", [3], [0.5f, -1, 2]), ("s", [], [7]), ("e", [0, 4], [])],
            new Dictionary<string, string> { ["format"] = "pt" });
        seeds.Add(File.ReadAllBytes(a));
        string b = Path.Combine(scratch, "b.safetensors");
        SafetensorsWriter.Write(b, [
            ("h", TensorDType.F16, [2, 2], new byte[] { 0, 0x3c, 0, 0xc0, 0xff, 0x7b, 1, 0 }),
            ("bf", TensorDType.BF16, [3], new byte[] { 0x80, 0x3f, 0, 0, 0x80, 0xbf }),
            ("d", TensorDType.F64, [1], BitConverter.GetBytes(3.5)),
            ("i", TensorDType.I64, [2], new byte[16]),
        ]);
        seeds.Add(File.ReadAllBytes(b));
        return seeds;
    }

    public override byte[] Mutate(byte[] input, Random rng)
    {
        if (input.Length >= 8 && rng.Next(10) < 6)
        {
            ulong n = BinaryPrimitives.ReadUInt64LittleEndian(input);
            if (n <= (ulong)(input.Length - 8))
            {
                byte[] header = Json.Mutate(input[8..(8 + (int)n)], rng);
                byte[] result = new byte[8 + header.Length + (input.Length - 8 - (int)n)];
                BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)header.Length);
                header.CopyTo(result, 8);
                input.AsSpan(8 + (int)n).CopyTo(result.AsSpan(8 + header.Length));
                return result;
            }
        }
        if (input.Length >= 8 && rng.Next(4) == 0)
        {
            var copy = (byte[])input.Clone();
            Bytes.PutInterestingField(copy, 0, 8, rng);
            return copy;
        }
        return Bytes.Mutate(input, rng);
    }
}

/// <summary>
/// torch.save zips: archive/data.pkl (pickle protocol 2 of an OrderedDict of _rebuild_tensor_v2 calls), archive/data/N
/// storages, archive/byteorder, archive/version. Entries are mutated and the zip rebuilt (fresh CRC-32s); some cases
/// mutate the zip bytes directly.
/// </summary>
public sealed class TorchTarget : CheckpointTarget
{
    public override string Name => "pt";
    protected override string FileName => "case.pt";

    /// <summary>An interesting value in a length, offset, count or method field of a zip header (local, central or end record).</summary>
    private static byte[] ZipFieldMutation(byte[] input, Random rng)
    {
        (byte[] Signature, (int Offset, int Width)[] Fields)[] records =
        [
            ([0x50, 0x4b, 0x03, 0x04], [(8, 2), (18, 4), (22, 4), (26, 2), (28, 2)]),
            ([0x50, 0x4b, 0x01, 0x02], [(10, 2), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (42, 4)]),
            ([0x50, 0x4b, 0x05, 0x06], [(8, 2), (10, 2), (12, 4), (16, 4), (20, 2)]),
        ];
        var (signature, fields) = records[rng.Next(records.Length)];
        var at = new List<int>();
        for (int i = input.AsSpan().IndexOf(signature); i >= 0; )
        {
            at.Add(i);
            int next = input.AsSpan(i + 1).IndexOf(signature);
            i = next < 0 ? -1 : i + 1 + next;
        }
        if (at.Count == 0) return Bytes.Mutate(input, rng);
        var copy = (byte[])input.Clone();
        var (offset, width) = fields[rng.Next(fields.Length)];
        Bytes.PutInterestingField(copy, at[rng.Next(at.Count)] + offset, width, rng);
        return copy;
    }

    /// <summary>Also: a checkpoint that opens must not contain an entry whose bytes fail their CRC-32.</summary>
    public override void Run(byte[] input, string scratch)
    {
        base.Run(input, scratch);
        if (TorchSeeds.FirstBadCrc(input) is { } entry)
            throw new FuzzInvariantException($"accepted a .pt with a zip entry that fails its CRC-32 ('{entry}': damaged bytes read as weights)");
    }

    public override IReadOnlyList<byte[]> Seeds(string scratch) =>
    [
        TorchSeeds.StateDict(CompressionLevel.NoCompression),
        TorchSeeds.StateDict(CompressionLevel.Fastest),
        TorchSeeds.Shared(),
    ];

    public override byte[] Mutate(byte[] input, Random rng)
    {
        List<(string Name, byte[] Data, CompressionLevel Level)>? entries = TorchSeeds.TryEntries(input);
        // No entries, or a name the zip writer refuses (a field mutation can leave one empty): bytes only.
        if (entries is null || entries.Count == 0 || entries.Any(e => e.Name.Length == 0) || rng.Next(6) == 0) return Bytes.Mutate(input, rng);
        if (rng.Next(8) == 0) return ZipFieldMutation(input, rng);
        if (rng.Next(8) == 0)
        {
            // Damage a stored entry's bytes in place: its CRC-32 in the zip is now stale.
            var stored = entries.Where(e => e.Level == CompressionLevel.NoCompression && e.Data.Length >= 4).ToList();
            if (stored.Count > 0)
            {
                var e = stored[rng.Next(stored.Count)];
                int at = input.AsSpan().IndexOf(e.Data);
                if (at >= 0)
                {
                    var copy = (byte[])input.Clone();
                    copy[at + rng.Next(e.Data.Length)] ^= (byte)(1 << rng.Next(8));
                    return copy;
                }
            }
        }
        int i = rng.Next(entries.Count);
        var (name, data, level) = entries[i];
        switch (rng.Next(8))
        {
            case 0: case 1: case 2: // the pickle (or whichever entry)
                {
                    int p = entries.FindIndex(e => e.Name.EndsWith("data.pkl", StringComparison.Ordinal));
                    if (p >= 0) i = p;
                    entries[i] = (entries[i].Name, Pickle.Mutate(entries[i].Data, rng), entries[i].Level);
                    break;
                }
            case 3: entries[i] = (name, Bytes.Mutate(data, rng), level); break;
            case 4: entries.RemoveAt(i); break;
            case 5: entries.Insert(i, (name, data, level)); break; // a duplicate entry name
            case 6:
                {
                    string[] names = ["archive/data.pkl", "other/data.pkl", "archive/data/0", "archive/data/1", "archive/byteorder", "../evil", "archive/", "archive/data/", "a/b/c/data.pkl"];
                    entries[i] = (names[rng.Next(names.Length)], data, level);
                    break;
                }
            default:
                {
                    string[] orders = ["big", "little", "", "middle", "little\n"];
                    int b = entries.FindIndex(e => e.Name.EndsWith("byteorder", StringComparison.Ordinal));
                    if (b >= 0) entries[b] = (entries[b].Name, Encoding.ASCII.GetBytes(orders[rng.Next(orders.Length)]), entries[b].Level);
                    else entries[i] = (name, data, level == CompressionLevel.NoCompression ? CompressionLevel.Fastest : CompressionLevel.NoCompression);
                    break;
                }
        }
        return TorchSeeds.Zip(entries);
    }
}

/// <summary>ONNX models (initializers read by EdgeTvq.Checkpoints' reader), mutated as a protobuf tree.</summary>
public sealed class OnnxTarget : CheckpointTarget
{
    public override string Name => "onnx";
    protected override string FileName => "case.onnx";

    public override IReadOnlyList<byte[]> Seeds(string scratch) => OnnxSeeds.Models(scratch);

    public override byte[] Mutate(byte[] input, Random rng) => Proto.Mutate(input, rng);

    public override void Run(byte[] input, string scratch)
    {
        OnnxSeeds.WriteExternalData(scratch);
        base.Run(input, scratch);
    }
}
