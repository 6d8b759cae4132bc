using System.Buffers;
using System.IO.Hashing;
using System.IO.Pipelines;
using System.Security.Cryptography;

namespace EdgeTvq.Format;

public delegate void RecordCallback(in BundleRecord record);

/// <summary>What a complete, checked read of one bundle file found.</summary>
public sealed record FileReadResult(string Path, FileHeader Header, long Length, string Sha256);

/// <summary>
/// Pull-based, front-to-back reader of one bundle file over a <see cref="PipeReader"/>: <see cref="OpenAsync"/>
/// reads the header, each <see cref="MoveNextAsync"/> yields the next checksum-verified record, and the call that
/// returns false has read and checked the trailer and the end of the file. Never seeks; holds at most one record
/// plus the pipe's buffer. Several streams can be advanced in lockstep (base file and task files share the
/// canonical record order). Any problem is a <see cref="BundleFormatException"/>.
/// </summary>
public sealed class BundleFileReader : IAsyncDisposable, IDisposable
{
    private readonly PipeReader _reader;
    private readonly string _path;
    private readonly XxHash64 _xxh = new();
    private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    private ReadOnlySequence<byte> _buffer;
    private bool _haveBuffer, _completed, _finished;
    private int _records;
    private long _offset;
    private BundleRecord _current;
    private long _pendingConsume;

    public string Path => _path;
    public FileHeader Header { get; private set; }
    public BundleRecord Current => _current;
    /// <summary>Set once <see cref="MoveNextAsync"/> returned false: length and SHA-256 of the whole file.</summary>
    public FileReadResult? Result { get; private set; }

    private BundleFileReader(PipeReader reader, string path)
    {
        _reader = reader;
        _path = path;
    }

    public static async ValueTask<BundleFileReader> OpenAsync(string path, CancellationToken cancellation = default)
    {
        var kind = EdgeTvq.IO.LocalFile.KindOf(path);
        if (kind is not (EdgeTvq.IO.LocalFileKind.Regular or EdgeTvq.IO.LocalFileKind.Missing))
            throw new BundleFormatException(path, $"is {EdgeTvq.IO.LocalFile.Describe(kind)}, not a regular file; a bundle holds only regular files");
        FileStream stream;
        try { stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BundleFormatException(path, $"cannot open: {e.Message}", inner: e);
        }
        var pipe = PipeReader.Create(new InlineReadStream(stream), new StreamPipeReaderOptions(bufferSize: 1 << 20, minimumReadSize: 1 << 16, leaveOpen: false));
        return await OpenAsync(pipe, path, cancellation).ConfigureAwait(false);
    }

    public static async ValueTask<BundleFileReader> OpenAsync(PipeReader pipe, string path, CancellationToken cancellation = default)
    {
        var r = new BundleFileReader(pipe, path);
        try
        {
            await r.ReadHeaderAsync(cancellation).ConfigureAwait(false);
            return r;
        }
        catch
        {
            await r.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async ValueTask ReadHeaderAsync(CancellationToken cancellation)
    {
        while (true)
        {
            await FillAsync(cancellation).ConfigureAwait(false);
            if (_buffer.Length >= FormatConstants.HeaderSize)
            {
                var h = new byte[FormatConstants.HeaderSize];
                _buffer.Slice(0, FormatConstants.HeaderSize).CopyTo(h);
                Header = FileHeader.Read(h, _path);
                Consume(FormatConstants.HeaderSize);
                return;
            }
            if (_completed)
                throw new BundleFormatException(_path, $"file is {_buffer.Length} bytes, shorter than the {FormatConstants.HeaderSize}-byte header; it is truncated or not an EdgeTvq bundle file", offset: 0);
            Examined();
        }
    }

    /// <summary>Advances to the next record; false after the trailer and end of file were checked.</summary>
    public async ValueTask<bool> MoveNextAsync(CancellationToken cancellation = default)
    {
        if (_finished) return false;
        if (_pendingConsume > 0) { Consume(_pendingConsume); _pendingConsume = 0; }
        if (_records < Header.RecordCount)
        {
            while (true)
            {
                await FillAsync(cancellation).ConfigureAwait(false);
                var view = _buffer;
                if (RecordParser.TryReadRecord(ref view, _path, _records, _offset, out _current))
                {
                    _records++;
                    _pendingConsume = _buffer.Length - view.Length; // consumed when the caller moves on
                    return true;
                }
                if (_completed)
                    throw new BundleFormatException(_path, $"file ends inside record {_records} of {Header.RecordCount} ({_buffer.Length} bytes of it present): the file is truncated; copy it again from the packer's output", offset: _offset);
                Examined();
            }
        }
        while (true)
        {
            await FillAsync(cancellation).ConfigureAwait(false);
            var view = _buffer;
            if (RecordParser.TryReadTrailer(ref view, _path, _offset, _xxh.GetCurrentHashAsUInt64()))
            {
                Consume(FormatConstants.TrailerSize);
                break;
            }
            if (_completed)
                throw new BundleFormatException(_path, "file ends before its trailer: the file is truncated; copy it again from the packer's output", offset: _offset);
            Examined();
        }
        while (true)
        {
            await FillAsync(cancellation).ConfigureAwait(false);
            if (_buffer.Length > 0)
                throw new BundleFormatException(_path, "unexpected bytes after the trailer; the file was appended to or damaged", offset: _offset);
            if (_completed) break;
            Examined();
        }
        _finished = true;
        _current = default;
        Result = new FileReadResult(_path, Header, _offset, Convert.ToHexStringLower(_sha.GetHashAndReset()));
        return false;
    }

    /// <summary>Synchronous <see cref="MoveNextAsync"/> for command-line tools.</summary>
    public bool MoveNext() => MoveNextAsync().AsTask().GetAwaiter().GetResult();

    public static BundleFileReader Open(string path) => OpenAsync(path).AsTask().GetAwaiter().GetResult();

    /// <summary>Reads every remaining record, handing each to <paramref name="onRecord"/>.</summary>
    public async ValueTask<FileReadResult> ReadToEndAsync(RecordCallback? onRecord, CancellationToken cancellation = default)
    {
        while (await MoveNextAsync(cancellation).ConfigureAwait(false)) onRecord?.Invoke(_current);
        return Result!;
    }

    /// <summary>Convenience: open, visit every record, check the end, close.</summary>
    public static async ValueTask<FileReadResult> ReadAsync(string path, Action<FileHeader>? onHeader, RecordCallback? onRecord, CancellationToken cancellation = default)
    {
        await using var r = await OpenAsync(path, cancellation).ConfigureAwait(false);
        onHeader?.Invoke(r.Header);
        return await r.ReadToEndAsync(onRecord, cancellation).ConfigureAwait(false);
    }

    public static FileReadResult Read(string path, Action<FileHeader>? onHeader, RecordCallback? onRecord)
        => ReadAsync(path, onHeader, onRecord).AsTask().GetAwaiter().GetResult();

    private async ValueTask FillAsync(CancellationToken cancellation)
    {
        if (_haveBuffer) return;
        var result = await _reader.ReadAsync(cancellation).ConfigureAwait(false);
        _buffer = result.Buffer;
        _completed = result.IsCompleted;
        _haveBuffer = true;
    }

    /// <summary>Everything buffered was looked at and more is needed.</summary>
    private void Examined()
    {
        _reader.AdvanceTo(_buffer.Start, _buffer.End);
        _haveBuffer = false;
    }

    private void Consume(long count)
    {
        var consumed = _buffer.Slice(0, count);
        foreach (var segment in consumed)
        {
            _xxh.Append(segment.Span);
            _sha.AppendData(segment.Span);
        }
        _offset += count;
        _buffer = _buffer.Slice(count);
        _reader.AdvanceTo(_buffer.Start);
        _haveBuffer = false;
    }

    public async ValueTask DisposeAsync()
    {
        await _reader.CompleteAsync().ConfigureAwait(false);
        _sha.Dispose();
    }

    public void Dispose()
    {
        _reader.Complete();
        _sha.Dispose();
    }
}

/// <summary>
/// A file stream whose asynchronous reads run inline on the caller's thread. A FileStream opened for synchronous I/O
/// turns each ReadAsync into a thread-pool work item; the pipe above it waits for that item, and while a merge keeps
/// the pool's threads busy with its blocks the read waits in the queue behind them. Reading a local file from the
/// page cache is a memory copy, so the caller does it itself.
/// </summary>
internal sealed class InlineReadStream(FileStream inner) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => inner.Length;
    public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return new ValueTask<int>(inner.Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
