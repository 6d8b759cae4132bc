using System.Buffers.Binary;
using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using EdgeTvq.Quantization;

namespace EdgeTvq.Format;

/// <summary>A finished bundle file: where it is, its size and SHA-256 (as the manifest records them).</summary>
public sealed record WrittenFile(string Path, long Length, string Sha256);

/// <summary>
/// Writes one bundle file front to back: header, the announced number of records, trailer. Bytes go to
/// "<c>path</c>.partial" and the file appears under its real name only after <see cref="Complete"/> flushed it
/// to disk, so a crash or an error never leaves a half-written file under a bundle name.
/// </summary>
public sealed class BundleFileWriter : IDisposable
{
    private readonly string _path, _partial;
    private readonly FileStream _stream;
    private FileHeader _header;
    private bool _headerPending;
    private readonly XxHash64 _fileHash = new();
    private readonly XxHash64 _recordHash = new();
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private long _length;
    private int _records;
    private bool _completed;

    public BundleFileWriter(string path, FileHeader header) : this(path, header, headerPending: false) { }

    /// <summary>
    /// With <paramref name="headerPending"/>, the header's pretrained identity is not known yet: records are written
    /// after a placeholder, and <see cref="Complete(FileHeader)"/> writes the real header and computes the file's
    /// checksums over header and records then (reading the records back). <paramref name="header"/> gives the kind and
    /// record count meanwhile.
    /// </summary>
    public BundleFileWriter(string path, FileHeader header, bool headerPending)
    {
        _path = path;
        _partial = path + ".partial";
        _header = header;
        _headerPending = headerPending;
        _stream = new FileStream(_partial, FileMode.Create, headerPending ? FileAccess.ReadWrite : FileAccess.Write, FileShare.None, 1 << 20);
        Span<byte> h = stackalloc byte[FormatConstants.HeaderSize];
        if (!headerPending) header.Write(h);
        Emit(h, inRecord: false);
    }

    public void WriteQuantized(string name, ReadOnlySpan<long> shape, in QuantParams p, ReadOnlySpan<byte> packedCodes)
    {
        Span<byte> head = stackalloc byte[8];
        BinaryPrimitives.WriteSingleLittleEndian(head, p.Scale);
        BinaryPrimitives.WriteSingleLittleEndian(head[4..], p.ZeroPoint);
        BeginRecord(RecordKind.Quantized, (byte)p.Bits, name, shape, 8 + packedCodes.Length);
        Emit(head, true);
        Emit(packedCodes, true);
        EndRecord();
    }

    /// <summary>A grouped record (kind 7, format version 4): mode, G, the groups' scales and zero points, the packed codes.</summary>
    public void WriteGrouped(string name, ReadOnlySpan<long> shape, GroupedParams p, ReadOnlySpan<byte> packedCodes)
    {
        long head = GroupedParams.HeadLength(p.Scales.Length, p.Mode);
        BeginRecord(RecordKind.Grouped, (byte)p.Bits, name, shape, head + packedCodes.Length);
        Span<byte> fixedPart = stackalloc byte[8];
        fixedPart.Clear();
        fixedPart[0] = (byte)p.Mode;
        BinaryPrimitives.WriteUInt32LittleEndian(fixedPart[4..], (uint)p.GroupSize);
        Emit(fixedPart, true);
        EmitFloats(p.Scales);
        if (p.Mode == GroupMode.Affine) EmitFloats(p.ZeroPoints);
        Emit(packedCodes, true);
        EndRecord();
    }

    private void EmitFloats(ReadOnlySpan<float> values)
    {
        Span<byte> b = stackalloc byte[4];
        if (BitConverter.IsLittleEndian) { Emit(MemoryMarshal.AsBytes(values), true); return; }
        foreach (float v in values)
        {
            BinaryPrimitives.WriteSingleLittleEndian(b, v);
            Emit(b, true);
        }
    }

    public void WriteConstant(string name, ReadOnlySpan<long> shape, float value)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(v, value);
        BeginRecord(RecordKind.Constant, 0, name, shape, 4);
        Emit(v, true);
        EndRecord();
    }

    /// <summary>A float32 tensor: a task- or base-vector delta (<see cref="RecordKind.Float32"/>) or a task's own tensor.</summary>
    public void WriteFloat32(string name, ReadOnlySpan<long> shape, ReadOnlySpan<float> values, bool ownTensor)
    {
        BeginRecord(ownTensor ? RecordKind.OwnFloat32 : RecordKind.Float32, 0, name, shape, 4L * values.Length);
        if (BitConverter.IsLittleEndian)
        {
            Emit(MemoryMarshal.AsBytes(values), true);
        }
        else
        {
            Span<byte> b = stackalloc byte[4];
            foreach (float f in values) { BinaryPrimitives.WriteSingleLittleEndian(b, f); Emit(b, true); }
        }
        EndRecord();
    }

    /// <summary>A task's own opaque bytes (<see cref="RecordKind.OwnBlob"/>, format version 2), e.g. its ONNX head graph.</summary>
    public void WriteBlob(string name, ReadOnlySpan<byte> bytes)
    {
        if (_header.Version < FormatConstants.VersionBlobs)
            throw new InvalidOperationException($"{_path}: own-blob records need a version-{FormatConstants.VersionBlobs} file");
        BeginRecord(RecordKind.OwnBlob, 0, name, [bytes.Length], bytes.Length);
        Emit(bytes, true);
        EndRecord();
    }

    public void WriteMetadata(ReadOnlySpan<byte> utf8Json)
    {
        BeginRecord(RecordKind.Metadata, 0, FormatConstants.MetadataRecordName, [], utf8Json.Length);
        Emit(utf8Json, true);
        EndRecord();
    }

    private void BeginRecord(RecordKind kind, byte bits, string name, ReadOnlySpan<long> shape, long payloadLength)
    {
        if (_records >= _header.RecordCount) throw new InvalidOperationException($"{_path}: more records than the {_header.RecordCount} announced in the header");
        if (shape.Length > FormatConstants.MaxRank) throw new ArgumentException($"tensor '{name}' has rank {shape.Length}; the format allows {FormatConstants.MaxRank}");
        if (payloadLength > FormatConstants.MaxPayloadBytes) throw new ArgumentException($"tensor '{name}' needs {payloadLength} bytes; one record is limited to {FormatConstants.MaxPayloadBytes}");
        int nameLength = Encoding.UTF8.GetByteCount(name);
        if (nameLength is 0 or > FormatConstants.MaxNameBytes) throw new ArgumentException($"tensor name '{name}' is {nameLength} UTF-8 bytes; allowed 1..{FormatConstants.MaxNameBytes}");
        var header = new RecordHeader(kind, bits, (byte)shape.Length, (ushort)nameLength, (ulong)payloadLength);
        Span<byte> buf = stackalloc byte[FormatConstants.RecordFixedSize + FormatConstants.MaxNameBytes + 8 * FormatConstants.MaxRank];
        header.Write(buf);
        Encoding.UTF8.GetBytes(name, buf[FormatConstants.RecordFixedSize..]);
        for (int d = 0; d < shape.Length; d++)
            BinaryPrimitives.WriteUInt64LittleEndian(buf[(FormatConstants.RecordFixedSize + nameLength + 8 * d)..], checked((ulong)shape[d]));
        _recordHash.Reset();
        Emit(buf[..(FormatConstants.RecordFixedSize + header.VariableLength)], true);
    }

    private void EndRecord()
    {
        Span<byte> sum = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(sum, _recordHash.GetCurrentHashAsUInt64());
        Emit(sum, inRecord: false);
        _records++;
    }

    private void Emit(ReadOnlySpan<byte> bytes, bool inRecord)
    {
        _stream.Write(bytes);
        if (!_headerPending)
        {
            _fileHash.Append(bytes);
            _sha.AppendData(bytes);
        }
        if (inRecord) _recordHash.Append(bytes);
        _length += bytes.Length;
    }

    /// <summary>
    /// For a writer made with a pending header: writes <paramref name="header"/> (same kind and record count), hashes
    /// it and the records written so far, then completes as <see cref="Complete()"/>.
    /// </summary>
    public WrittenFile Complete(FileHeader header)
    {
        if (!_headerPending) throw new InvalidOperationException($"{_path}: the header was written when the file was created");
        if (header.Kind != _header.Kind || header.RecordCount != _header.RecordCount || header.Version != _header.Version)
            throw new ArgumentException($"{_path}: the header must keep the file's kind, record count and version", nameof(header));
        _header = header;
        Span<byte> h = stackalloc byte[FormatConstants.HeaderSize];
        header.Write(h);
        _stream.Flush();
        _stream.Position = 0;
        _stream.Write(h);
        _stream.Flush();
        _fileHash.Append(h);
        _sha.AppendData(h);
        var buffer = new byte[1 << 20];
        long at = FormatConstants.HeaderSize;
        while (at < _length)
        {
            int read = RandomAccess.Read(_stream.SafeFileHandle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, _length - at)), at);
            if (read <= 0) throw new IOException($"{_partial}: could not read back the records written");
            _fileHash.Append(buffer.AsSpan(0, read));
            _sha.AppendData(buffer.AsSpan(0, read));
            at += read;
        }
        _stream.Position = _length;
        _headerPending = false;
        return Complete();
    }

    /// <summary>Writes the trailer, flushes to disk and moves the file to its name.</summary>
    public WrittenFile Complete()
    {
        if (_headerPending) throw new InvalidOperationException($"{_path}: the header is still pending; use Complete(header)");
        if (_records != _header.RecordCount)
            throw new InvalidOperationException($"{_path}: wrote {_records} records, the header announced {_header.RecordCount}");
        Span<byte> t = stackalloc byte[FormatConstants.TrailerSize];
        FormatConstants.TrailerMagic.CopyTo(t);
        BinaryPrimitives.WriteUInt64LittleEndian(t[8..], (ulong)(_length + FormatConstants.TrailerSize));
        BinaryPrimitives.WriteUInt64LittleEndian(t[16..], _fileHash.GetCurrentHashAsUInt64());
        _stream.Write(t);
        _sha.AppendData(t);
        _length += t.Length;
        _stream.Flush(flushToDisk: true);
        _stream.Dispose();
        File.Move(_partial, _path, overwrite: false);
        _completed = true;
        return new WrittenFile(_path, _length, Convert.ToHexStringLower(_sha.GetHashAndReset()));
    }

    public void Dispose()
    {
        _stream.Dispose();
        _sha.Dispose();
        if (!_completed) File.Delete(_partial);
    }
}
