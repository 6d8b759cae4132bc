using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace EdgeTvq.Bundle;

/// <summary>
/// The identity of the pretrained weights a bundle was made against: SHA-256 over, for each tensor of the
/// manifest's table whose storage is not "skipped", in table order:
/// u16 LE name length, UTF-8 name, u8 rank, rank × u64 LE dims, element count × f32 LE values.
/// A task file carries it so that it is refused against any other base.
/// </summary>
public sealed class PretrainedIdentity : IDisposable
{
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public void Append(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values)
    {
        Span<byte> head = stackalloc byte[2 + 1 + 8 * 8];
        int nameLength = Encoding.UTF8.GetByteCount(name);
        BinaryPrimitives.WriteUInt16LittleEndian(head, (ushort)nameLength);
        _sha.AppendData(head[..2]);
        _sha.AppendData(Encoding.UTF8.GetBytes(name));
        head[0] = (byte)shape.Length;
        for (int d = 0; d < shape.Length; d++) BinaryPrimitives.WriteUInt64LittleEndian(head[(1 + 8 * d)..], (ulong)shape[d]);
        _sha.AppendData(head[..(1 + 8 * shape.Length)]);
        if (BitConverter.IsLittleEndian) _sha.AppendData(MemoryMarshal.AsBytes(values));
        else
        {
            Span<byte> b = stackalloc byte[4];
            foreach (float v in values) { BinaryPrimitives.WriteSingleLittleEndian(b, v); _sha.AppendData(b); }
        }
    }

    public byte[] Finish() => _sha.GetHashAndReset();

    public void Dispose() => _sha.Dispose();
}
