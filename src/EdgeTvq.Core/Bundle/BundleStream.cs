using EdgeTvq.Format;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bundle;

/// <summary>Reads task <paramref name="task"/>'s own tensor <paramref name="own"/>: its record (payload valid during the call).</summary>
public delegate void OwnRecordCallback(int task, OwnTensorEntry own, in BundleRecord record);

/// <summary>Reads task <paramref name="task"/>'s own blob <paramref name="blob"/>: its record (payload valid during the call).</summary>
public delegate void OwnBlobCallback(int task, OwnBlobEntry blob, in BundleRecord record);

/// <summary>
/// The one way EdgeTvq reads the binary files of a bundle (docs/bundle-format.md, sections 4 and 7): the base file
/// (RTVQ) and any selection of task files, opened with their header checks, read front to back in lockstep over the
/// manifest's non-skipped tensor table. One <see cref="MoveNext"/> is one table tensor: the base record (quantized
/// tensors only) and one record from every open task file, each checked here against the table and the record-order
/// rules of section 4.3. After the table come the task files' own tensors (<see cref="ReadOwn"/>), and
/// <see cref="Finish"/> checks every file's trailer, length and SHA-256 against the manifest.
/// <para>
/// Record payloads point into the files' read buffers and stay valid until the next <see cref="MoveNext"/>. The stream
/// is not thread-safe; a caller may advance it from another thread as long as no two threads touch it at once.
/// </para>
/// </summary>
public sealed class BundleStream : IDisposable
{
    /// <summary>One open file.</summary>
    private sealed class Lane(BundleFileReader reader, FileEntry entry)
    {
        public readonly BundleFileReader Reader = reader;
        public readonly FileEntry Entry = entry;
        public BundleRecord Current;
        public bool HasCurrent, OwnRead, Failed;
        private bool _closed;
        public string Path => Reader.Path;

        public void Close()
        {
            HasCurrent = false;
            if (_closed) return;
            _closed = true;
            Reader.Dispose();
        }
    }

    /// <summary>Test hook: told the path of every bundle file the streams of this async flow open.</summary>
    internal static readonly AsyncLocal<Action<string>?> FileOpened = new();

    private readonly string _dir;
    private readonly Lane?[] _tasks;
    private Lane? _base;
    private readonly TaskMetadata?[] _metadata;
    private readonly List<string>? _problems;
    private int _position = -1;
    private bool _finished;

    public BundleManifest Manifest { get; }
    public PackOptions Options { get; }
    /// <summary>The manifest's table without its skipped tensors: the steps of the stream, in order.</summary>
    public IReadOnlyList<TensorEntry> Table { get; }
    /// <summary>The task files read, in the order given to <see cref="Open"/>.</summary>
    public IReadOnlyList<TaskEntry> Tasks { get; }
    /// <summary>Each task's metadata record (read when the stream opened); null for a task that failed in collecting mode.</summary>
    public IReadOnlyList<TaskMetadata?> Metadata => _metadata;
    /// <summary>Whether the base file is being read (RTVQ, asked for, and not failed).</summary>
    public bool ReadsBase => _base is not null;
    /// <summary>Index in <see cref="Table"/> of the current step; −1 before the first, <c>Table.Count</c> after the last.</summary>
    public int Position => _position;
    public TensorEntry Current => _position >= 0 && _position < Table.Count ? Table[_position] : throw new InvalidOperationException("the stream is not on a tensor");
    /// <summary>The base record of the current tensor: null for a full tensor or when the base file is not read.</summary>
    public BundleRecord? BaseRecord => _base is { HasCurrent: true } b ? b.Current : null;
    /// <summary>Task <paramref name="task"/>'s record of the current tensor.</summary>
    public BundleRecord TaskRecord(int task) =>
        _tasks[task] is { HasCurrent: true } lane ? lane.Current : throw new InvalidOperationException($"task {task} has no current record");
    /// <summary>Collecting mode: whether task <paramref name="task"/>'s file failed (its problem is in the list given to <see cref="OpenCollecting"/>).</summary>
    public bool TaskFailed(int task) => _tasks[task] is null or { Failed: true };

    private BundleStream(string bundleDir, BundleManifest m, IReadOnlyList<TaskEntry> tasks, List<string>? problems)
    {
        _dir = bundleDir;
        Manifest = m;
        Options = ManifestIO.OptionsOf(m);
        Table = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        Tasks = tasks;
        _tasks = new Lane?[tasks.Count];
        _metadata = new TaskMetadata?[tasks.Count];
        _problems = problems;
    }

    /// <summary>
    /// Opens <paramref name="tasks"/>' files (checking headers and reading their metadata records) and, when
    /// <paramref name="readBase"/> and the bundle has one, the base file. Any problem throws a <see cref="BundleFormatException"/>.
    /// </summary>
    public static BundleStream Open(string bundleDir, BundleManifest m, IReadOnlyList<TaskEntry> tasks, bool readBase = true)
    {
        var s = new BundleStream(bundleDir, m, tasks, null);
        try
        {
            s.OpenAll(readBase);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens every file of the bundle for checking: a file that fails is reported in <paramref name="problems"/> and
    /// dropped, and the others go on, so one pass finds the problems of all files (reading the base file once).
    /// </summary>
    public static BundleStream OpenCollecting(string bundleDir, BundleManifest m, List<string> problems)
    {
        var s = new BundleStream(bundleDir, m, m.Tasks, problems);
        s.OpenAll(readBase: true);
        return s;
    }

    /// <summary>Records of a task file: metadata, one per non-skipped table tensor, one per own tensor, one per own blob (section 4.3).</summary>
    public static uint TaskRecordCount(BundleManifest m, TaskEntry task) =>
        (uint)(1 + m.Tensors.Count(e => e.Storage != "skipped") + task.OwnTensors.Count + (task.OwnBlobs?.Count ?? 0));

    /// <summary>Records of the base file: one per quantized table tensor (section 4.3).</summary>
    public static uint BaseRecordCount(BundleManifest m) => (uint)m.Tensors.Count(e => e.Storage == "quantized");

    private void OpenAll(bool readBase)
    {
        for (int t = 0; t < Tasks.Count; t++)
        {
            int task = t;
            Guard(Tasks[t], () =>
            {
                var lane = OpenFile(Tasks[task], FileKind.Task, TaskRecordCount(Manifest, Tasks[task]), ManifestIO.TaskFileVersion(Manifest, Tasks[task]));
                _tasks[task] = lane;
                _metadata[task] = ReadMetadata(lane, Tasks[task]);
            });
        }
        if (readBase && Manifest.Base is { } b)
            Guard(b, () => _base = OpenFile(b, FileKind.Base, BaseRecordCount(Manifest), ManifestIO.BaseFileVersion(Manifest)));
    }

    /// <summary>Advances every open file by the records of the next table tensor; false after the last.</summary>
    public bool MoveNext()
    {
        if (_finished || _tasks.Any(l => l is { OwnRead: true }))
            throw new InvalidOperationException("the stream already moved past the table");
        if (_position >= Table.Count - 1)
        {
            _position = Table.Count;
            ClearCurrent();
            return false;
        }
        var e = Table[++_position];
        ClearCurrent();
        if (_base is { } b && e.Storage == "quantized")
            Guard(b.Entry, () =>
            {
                b.Current = NextTableRecord(b, e, Options.BaseBitsOf(e), PackOptions.BaseGroupOf(e));
                b.HasCurrent = true;
            });
        for (int t = 0; t < _tasks.Length; t++)
            if (_tasks[t] is { Failed: false } lane)
                Guard(lane.Entry, () =>
                {
                    lane.Current = NextTableRecord(lane, e, Options.TaskBitsOf(e), Options.TaskGroupOf(e));
                    lane.HasCurrent = true;
                });
        return true;
    }

    /// <summary>
    /// After the table: reads task <paramref name="task"/>'s own tensors (kind 4, in the order of its manifest
    /// entry), handing each to <paramref name="onOwn"/>, then its own blobs (kind 6, version 2), handing each to
    /// <paramref name="onBlob"/>. At most once per task; <see cref="Finish"/> reads those not read.
    /// </summary>
    public void ReadOwn(int task, OwnRecordCallback? onOwn, OwnBlobCallback? onBlob = null)
    {
        if (_position < Table.Count - 1) throw new InvalidOperationException("own tensors come after the last table tensor");
        var lane = _tasks[task];
        if (lane is null || lane.Failed) return;
        if (lane.OwnRead) throw new InvalidOperationException($"task '{Tasks[task].Name}': own tensors were already read");
        _position = Table.Count;
        ClearCurrent();
        lane.OwnRead = true;
        Guard(lane.Entry, () =>
        {
            foreach (var own in Tasks[task].OwnTensors)
            {
                var r = NextRecord(lane, own.Name, own.Shape);
                if (r.Kind != RecordKind.OwnFloat32)
                    throw Refuse(lane, r, $"is of kind {r.Kind}; the task's own tensors are OwnFloat32 records");
                if (!lane.Failed) onOwn?.Invoke(task, own, r);
            }
            foreach (var blob in Tasks[task].OwnBlobs ?? [])
            {
                var r = NextRecord(lane, blob.Name, [blob.Bytes]);
                if (r.Kind != RecordKind.OwnBlob)
                    throw Refuse(lane, r, $"is of kind {r.Kind}; the task's own blobs are OwnBlob records");
                if (!lane.Failed) onBlob?.Invoke(task, blob, r);
            }
        });
    }

    /// <summary>
    /// After the table: reads the own tensors no one read, then checks that every file ends with its trailer where the
    /// manifest says and that its length and SHA-256 equal the manifest entry.
    /// </summary>
    public void Finish()
    {
        if (_finished) return;
        if (_position < Table.Count - 1) throw new InvalidOperationException("the stream stopped before the last tensor");
        for (int t = 0; t < _tasks.Length; t++)
        {
            if (_tasks[t] is not { Failed: false } lane) continue;
            if (!lane.OwnRead) ReadOwn(t, null);
            if (!lane.Failed) Guard(lane.Entry, () => FinishFile(lane));
        }
        if (_base is { } b) Guard(b.Entry, () => FinishFile(b));
        _position = Table.Count;
        _finished = true;
    }

    public void Dispose()
    {
        foreach (var lane in _tasks) lane?.Close();
        _base?.Close();
    }

    // ---- the rules, in one place ----

    private Lane OpenFile(FileEntry entry, FileKind kind, uint expectedRecords, ushort expectedVersion)
    {
        string path = Path.Combine(_dir, entry.File);
        if (!File.Exists(path))
            throw new BundleFormatException(path, "file listed in manifest.json is missing; copy the whole bundle folder again");
        FileOpened.Value?.Invoke(path);
        var reader = BundleFileReader.Open(path);
        try
        {
            CheckHeader(reader.Header, kind, expectedRecords, expectedVersion, path);
            return new Lane(reader, entry);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    /// <summary>Section 7, item 2: the header must be this bundle's, made against its pretrained model, with its settings.</summary>
    private void CheckHeader(FileHeader h, FileKind kind, uint expectedRecords, ushort expectedVersion, string path)
    {
        var m = Manifest;
        var o = Options;
        if (h.Kind != kind)
            throw new BundleFormatException(path, $"is a {h.Kind} file but the manifest lists it as a {kind} file");
        if (!Convert.ToHexStringLower(h.PretrainedIdentity).Equals(m.Pretrained.Sha256, StringComparison.Ordinal))
            throw new BundleFormatException(path, $"was made for another pretrained model (base identity {Convert.ToHexStringLower(h.PretrainedIdentity)[..16]}…, this bundle's is {m.Pretrained.Sha256[..16]}…). Re-pack this task against this bundle's pretrained checkpoint with 'edgetvq-pack add-task'.");
        if (h.BundleId.ToString("N") != m.BundleId)
            throw new BundleFormatException(path, $"belongs to bundle {h.BundleId:N}, not to this bundle ({m.BundleId}); files from different bundles cannot be mixed. Use 'edgetvq-pack add-task' to add a task to this bundle.");
        if (h.Scheme != o.Scheme || h.Mode != o.Mode || h.Flags.HasFlag(FileFlags.ErrorCorrection) != (o.Scheme == Scheme.Rtvq && o.ErrorCorrection))
            throw new BundleFormatException(path, "header settings (scheme, quantizer or error correction) differ from manifest.json");
        if (h.Version != expectedVersion)
            throw new BundleFormatException(path, $"is a format version {h.Version} file; the manifest implies version {expectedVersion} (4 in every file when the table has group sizes, else 3 when it has per-tensor widths, else 2 exactly when the task has own blobs)");
        if (h.RecordCount != expectedRecords)
            throw new BundleFormatException(path, $"holds {h.RecordCount} records, the manifest implies {expectedRecords}");
    }

    /// <summary>Section 4.3: record 0 of a task file is its metadata, naming the manifest entry's task.</summary>
    private static TaskMetadata ReadMetadata(Lane lane, TaskEntry task)
    {
        var r = NextRecord(lane, FormatConstants.MetadataRecordName, null);
        if (r.Kind != RecordKind.Metadata)
            throw Refuse(lane, r, $"is of kind {r.Kind}; record 0 of a task file is its Metadata record");
        var meta = ManifestIO.ParseMetadata(System.Buffers.BuffersExtensions.ToArray(r.Payload), lane.Path);
        if (meta.Task != task.Name)
            throw new BundleFormatException(lane.Path, $"holds task '{meta.Task}' but the manifest lists it as '{task.Name}'");
        return meta;
    }

    /// <summary>
    /// Section 4.3: the record of table tensor <paramref name="e"/>. A <c>full</c> tensor is a Float32 record; a
    /// <c>quantized</c> one a Quantized record of <paramref name="bits"/> bits (the tensor's own width when the table
    /// has one, else the manifest's bits or offsetBits in a task file, baseBits in the base file), a Constant record, or a Float32 record only when it has no elements.
    /// With a <paramref name="group"/> (format version 4) it is instead a Grouped record of that width, group size and mode, or a Constant record.
    /// </summary>
    private static BundleRecord NextTableRecord(Lane lane, TensorEntry e, int bits, Grouping? group)
    {
        var r = NextRecord(lane, e.Name, e.Shape);
        if (e.Storage == "full")
        {
            if (r.Kind != RecordKind.Float32)
                throw Refuse(lane, r, $"is of kind {r.Kind}; the manifest stores this tensor in full, as a Float32 record");
            return r;
        }
        if (group is { } g)
        {
            // Version 4: a grouped tensor is a Grouped record of its width, group size and mode (or a constant, as above).
            if (r.Kind == RecordKind.Grouped)
            {
                var (mode, _, size) = r.GroupedHead();
                if (r.Bits != bits) throw Refuse(lane, r, $"has {r.Bits}-bit codes, the manifest says {bits} for this tensor");
                if (size != g.Size) throw Refuse(lane, r, $"has groups of {size} elements, the manifest says {g.Size} for this tensor");
                if (mode != (byte)g.Mode) throw Refuse(lane, r, $"has {(GroupMode)mode} groups, the manifest says {g.Mode} (groupMode)");
                return r;
            }
            if (r.Kind == RecordKind.Constant) return r;
            throw Refuse(lane, r, $"is of kind {r.Kind}; the manifest groups this tensor ({g.Size} elements per scale), so it is a Grouped record of {bits} bits or a Constant record");
        }
        switch (r.Kind)
        {
            case RecordKind.Quantized when r.Bits == bits:
            case RecordKind.Constant:
            case RecordKind.Float32 when r.ElementCount == 0:
                return r;
            case RecordKind.Quantized:
                throw Refuse(lane, r, $"has {r.Bits}-bit codes, the manifest says {bits} for this tensor");
            case RecordKind.Float32:
                throw Refuse(lane, r, "stores a quantized tensor as float32, which only an empty tensor may be");
            default:
                throw Refuse(lane, r, $"is of kind {r.Kind}; a quantized tensor is a Quantized record of {bits} bits or a Constant record");
        }
    }

    /// <summary>The file's next record, which must be <paramref name="name"/> with <paramref name="shape"/> (null: rank 0 metadata).</summary>
    private static BundleRecord NextRecord(Lane lane, string name, long[]? shape)
    {
        if (!lane.Reader.MoveNext())
            throw new BundleFormatException(lane.Path, $"ends before tensor '{name}'", name);
        var r = lane.Reader.Current;
        if (r.Name != name)
            throw new BundleFormatException(lane.Path, $"record {r.Index} is '{r.Name}', expected '{name}' (records must follow the manifest's tensor table)", name, r.Offset);
        if (shape is not null && !r.Shape.SequenceEqual(shape))
            throw new BundleFormatException(lane.Path, $"record {r.Index} has shape {r.ShapeText}, the manifest says [{string.Join(", ", shape)}]", name, r.Offset);
        return r;
    }

    private static BundleFormatException Refuse(Lane lane, in BundleRecord r, string what) =>
        new(lane.Path, $"record {r.Index} {what} (section 4.3 of docs/bundle-format.md); the file was not written by edgetvq-pack or was altered: pack this file again", r.Name, r.Offset);

    /// <summary>Section 7, item 4: nothing after the last record but the trailer; length and SHA-256 as the manifest says.</summary>
    private static void FinishFile(Lane lane)
    {
        var reader = lane.Reader;
        if (reader.MoveNext())
            throw new BundleFormatException(lane.Path, $"has more records than the manifest implies (record {reader.Current.Index}, '{reader.Current.Name}')");
        var result = reader.Result!;
        if (result.Length != lane.Entry.Bytes)
            throw new BundleFormatException(lane.Path, $"is {result.Length} bytes, manifest.json says {lane.Entry.Bytes}");
        if (result.Sha256 != lane.Entry.Sha256)
            throw new BundleFormatException(lane.Path, "SHA-256 differs from manifest.json: the file was replaced or damaged");
    }

    private void ClearCurrent()
    {
        if (_base is not null) _base.HasCurrent = false;
        foreach (var lane in _tasks)
            if (lane is not null) lane.HasCurrent = false;
    }

    /// <summary>
    /// Runs one file's step. Strict mode: a problem throws. Collecting mode: it is recorded, the file closed and
    /// dropped from the stream (a failed base file stops being read; the task files go on).
    /// </summary>
    private void Guard(FileEntry entry, Action step)
    {
        if (_problems is null)
        {
            step();
            return;
        }
        try { step(); }
        catch (BundleFormatException e) { Drop(entry, e.Message); }
        catch (IOException e) { Drop(entry, $"{entry.File}: {e.Message}"); }
    }

    private void Drop(FileEntry entry, string problem)
    {
        _problems!.Add(problem);
        if (ReferenceEquals(entry, Manifest.Base))
        {
            _base?.Close();
            _base = null;
            return;
        }
        for (int t = 0; t < Tasks.Count; t++)
            if (ReferenceEquals(Tasks[t], entry) && _tasks[t] is { } lane)
            {
                lane.Failed = true;
                lane.Close();
            }
    }
}
