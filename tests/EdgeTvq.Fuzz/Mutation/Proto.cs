using System.Text;

namespace EdgeTvq.Fuzz.Mutation;

/// <summary>
/// A protobuf message as a tree of fields, so one field deep inside (a TensorProto's dims, raw_data, external_data)
/// can change and every enclosing length prefix is rewritten. Length-delimited fields are read as nested messages
/// when their bytes parse as one.
/// </summary>
public sealed class Proto
{
    public sealed class Field
    {
        public int Number;
        public int Wire;           // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
        public ulong Value;        // varint, fixed64, fixed32
        public byte[] Bytes = [];  // length-delimited
        public Proto? Message;     // length-delimited that parsed as a message
    }

    public List<Field> Fields = [];

    public static Proto? TryParse(ReadOnlySpan<byte> b, int depth = 0)
    {
        var p = new Proto();
        int i = 0;
        while (i < b.Length)
        {
            if (!TryVarint(b, ref i, out ulong tag)) return null;
            int number = (int)(tag >> 3), wire = (int)(tag & 7);
            if (number <= 0 || tag >> 3 > int.MaxValue) return null;
            var f = new Field { Number = number, Wire = wire };
            switch (wire)
            {
                case 0: if (!TryVarint(b, ref i, out f.Value)) return null; break;
                case 1: if (i + 8 > b.Length) return null; f.Value = BitConverter.ToUInt64(b[i..]); i += 8; break;
                case 5: if (i + 4 > b.Length) return null; f.Value = BitConverter.ToUInt32(b[i..]); i += 4; break;
                case 2:
                    {
                        if (!TryVarint(b, ref i, out ulong len) || len > (ulong)(b.Length - i)) return null;
                        f.Bytes = b.Slice(i, (int)len).ToArray();
                        i += (int)len;
                        if (depth < 6 && f.Bytes.Length > 0) f.Message = TryParse(f.Bytes, depth + 1);
                        break;
                    }
                default: return null;
            }
            p.Fields.Add(f);
        }
        return p;
    }

    private static bool TryVarint(ReadOnlySpan<byte> b, ref int i, out ulong v)
    {
        v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (i >= b.Length) return false;
            byte x = b[i++];
            v |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return true;
        }
        return false;
    }

    public byte[] Serialize()
    {
        var ms = new MemoryStream();
        foreach (var f in Fields)
        {
            WriteVarint(ms, (ulong)f.Number << 3 | (uint)f.Wire);
            switch (f.Wire)
            {
                case 0: WriteVarint(ms, f.Value); break;
                case 1: ms.Write(BitConverter.GetBytes(f.Value)); break;
                case 5: ms.Write(BitConverter.GetBytes((uint)f.Value)); break;
                default:
                    byte[] bytes = f.Message?.Serialize() ?? f.Bytes;
                    WriteVarint(ms, (ulong)bytes.Length);
                    ms.Write(bytes);
                    break;
            }
        }
        return ms.ToArray();
    }

    public static void WriteVarint(Stream s, ulong v)
    {
        while (v >= 0x80) { s.WriteByte((byte)(v | 0x80)); v >>= 7; }
        s.WriteByte((byte)v);
    }

    private void Collect(List<(Proto Owner, Field Field)> all)
    {
        foreach (var f in Fields)
        {
            all.Add((this, f));
            f.Message?.Collect(all);
        }
    }

    private static readonly string[] Locations = ["weights.bin", "missing.bin", "../weights.bin", "/dev/zero", "/etc/hostname", "sub/../weights.bin", "", ".", "link.bin", "fifo"];
    private static readonly string[] Keys = ["location", "offset", "length", "checksum", "basepath"];

    public static byte[] Mutate(byte[] input, Random rng)
    {
        var p = TryParse(input);
        if (p is null || rng.Next(8) == 0) return Bytes.Mutate(input, rng);
        var all = new List<(Proto Owner, Field Field)>();
        p.Collect(all);
        if (all.Count == 0) return Bytes.Mutate(input, rng);
        var (owner, f) = all[rng.Next(all.Count)];
        switch (rng.Next(9))
        {
            case 0: owner.Fields.Remove(f); break;
            case 1: owner.Fields.Insert(owner.Fields.IndexOf(f), Clone(f)); break;
            case 2: // an interesting value, or a different wire type
                if (f.Wire == 2 && rng.Next(2) == 0) { f.Wire = 0; f.Message = null; }
                f.Value = (ulong)Bytes.InterestingValue(rng);
                if (f.Wire == 2) { f.Wire = 0; f.Message = null; }
                break;
            case 3: // change the bytes of a leaf (raw_data, a name, packed dims)
                if (f.Wire == 2) { f.Bytes = Bytes.Mutate(f.Message?.Serialize() ?? f.Bytes, rng); f.Message = null; }
                else f.Value ^= 1UL << rng.Next(64);
                break;
            case 4: f.Number = rng.Next(4) == 0 ? rng.Next(1, 30) : new[] { 1, 2, 4, 5, 7, 8, 9, 10, 13, 14, 3 }[rng.Next(11)]; break;
            case 5: // external data on the enclosing TensorProto
                {
                    owner.Fields.RemoveAll(x => x.Number is 13 or 14);
                    owner.Fields.Add(new Field { Number = 14, Wire = 0, Value = 1 });
                    owner.Fields.Add(Entry("location", Locations[rng.Next(Locations.Length)]));
                    if (rng.Next(2) == 0) owner.Fields.Add(Entry("offset", Bytes.InterestingValue(rng).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    if (rng.Next(2) == 0) owner.Fields.Add(Entry("length", Bytes.InterestingValue(rng).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                    break;
                }
            case 6: // an external-data entry's value
                owner.Fields.Add(Entry(Keys[rng.Next(Keys.Length)], rng.Next(2) == 0 ? Locations[rng.Next(Locations.Length)] : Bytes.InterestingValue(rng).ToString(System.Globalization.CultureInfo.InvariantCulture)));
                break;
            case 7: // a length-delimited field's declared length made to lie (the enclosing lengths stay right)
                if (f.Wire == 2)
                {
                    byte[] bytes = f.Message?.Serialize() ?? f.Bytes;
                    var ms = new MemoryStream();
                    WriteVarint(ms, (ulong)Bytes.InterestingValue(rng));
                    ms.Write(bytes);
                    f.Wire = 2; f.Message = null; f.Bytes = ms.ToArray();
                }
                break;
            default: // dims: a huge or negative dimension
                owner.Fields.Insert(0, new Field { Number = 1, Wire = 0, Value = (ulong)Bytes.InterestingValue(rng) });
                break;
        }
        return p.Serialize();
    }

    private static Field Clone(Field f) => new() { Number = f.Number, Wire = f.Wire, Value = f.Value, Bytes = f.Message?.Serialize() ?? f.Bytes };

    private static Field Entry(string key, string value) => new()
    {
        Number = 13, Wire = 2,
        Message = new Proto { Fields = [new Field { Number = 1, Wire = 2, Bytes = Encoding.UTF8.GetBytes(key) }, new Field { Number = 2, Wire = 2, Bytes = Encoding.UTF8.GetBytes(value) }] },
    };
}
