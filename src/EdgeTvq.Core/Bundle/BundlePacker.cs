using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>
/// A fine-tuned checkpoint to pack under a task name, with optional user metadata (labels, preprocessing, kind) and
/// own blobs (e.g. the task's head as an ONNX graph, <see cref="OwnBlobEntry.HeadOnnx"/>).
/// </summary>
public sealed record PackTask(string Name, ITensorSource Source, System.Text.Json.JsonElement? Metadata = null, string MetadataFile = "",
    IReadOnlyList<PackBlob>? Blobs = null);

/// <summary>An own blob to store in a task's file (format version 2): its name, its bytes and the file they came from.</summary>
public sealed record PackBlob(string Name, byte[] Bytes, string Source);

/// <summary>Progress of a long step: phase text, items done, items total.</summary>
public delegate void PackProgress(string phase, long done, long total);

/// <summary>
/// Writes bundles: <see cref="Pack"/> creates a new bundle directory from a pretrained checkpoint and T
/// fine-tuned ones; <see cref="AddTask"/> adds one task file to an existing bundle and touches no other file
/// but the manifest. Works tensor by tensor in the canonical order, so memory holds one tensor of each
/// checkpoint at a time, and writes every file under a temporary name first, so a failure loses nothing.
/// </summary>
public static class BundlePacker
{
    /// <param name="allocated">With a budget (<see cref="PackOptions.HasBudget"/>): told what the allocation chose, before the files are written.</param>
    public static BundleManifest Pack(ITensorSource pretrained, IReadOnlyList<PackTask> tasks, PackOptions options, string outDir, PackProgress? progress = null,
        Action<BudgetAllocation>? allocated = null)
    {
        options.Validate();
        if (tasks.Count == 0) throw new ArgumentException("at least one --task is needed");
        var seen = new HashSet<string>();
        foreach (var t in tasks)
        {
            BundleNames.CheckTaskName(t.Name);
            if (!seen.Add(t.Name.ToLowerInvariant())) throw new ArgumentException($"task '{t.Name}' is given twice (names must differ in more than letter case)");
        }
        if (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
            throw new IOException($"{outDir} exists and is not empty; choose a new --out folder (use add-task to extend a bundle)");

        var table = BuildTable(pretrained, options.Policy);
        options.ApplyGroups(table); // group sizes first: the budget allocation counts their scales' bytes
        var plans = tasks.Select(t => TaskPlan.Create(t, table, pretrained)).ToList();
        BudgetAllocation? allocation = null;
        if (options.HasBudget)
        {
            // A first pass measures every width; the table then carries each tensor's widths (format version 3).
            allocation = BudgetPlanner.Plan(pretrained, table, plans, options, progress);
            options = BudgetPlanner.Apply(allocation, table, options);
            allocated?.Invoke(allocation);
        }
        // The pretrained identity goes into every file header, but it is hashed from the θ_pre the encoder reads anyway,
        // beside the encoding; the files are written after a placeholder header and completed once it is known.
        byte[] pendingIdentity = new byte[32];

        var manifest = new BundleManifest
        {
            BundleId = Guid.NewGuid().ToString("N"),
            Scheme = PackOptions.SchemeName(options.Scheme),
            Quantizer = PackOptions.ModeName(options.Mode),
            Bits = options.Scheme == Scheme.Rtvq ? null : options.Bits,
            BaseBits = options.Scheme == Scheme.Rtvq ? options.BaseBits : null,
            OffsetBits = options.Scheme == Scheme.Rtvq ? options.OffsetBits : null,
            ErrorCorrection = options.Scheme == Scheme.Rtvq && options.ErrorCorrection,
            GroupMode = options.Signs ? "sign" : null,
            Policy = options.Policy.Name,
            Tensors = table,
        };
        var bundleId = Guid.ParseExact(manifest.BundleId, "N");

        string fullOut = Path.GetFullPath(outDir);
        string staging = fullOut.TrimEnd(Path.DirectorySeparatorChar) + ".partial-" + manifest.BundleId[..8];
        Directory.CreateDirectory(staging);
        try
        {
            var stored = table.Where(e => e.Storage != "skipped").ToList();
            int quantizedCount = stored.Count(e => e.Storage == "quantized");
            BundleFileWriter? baseWriter = options.Scheme == Scheme.Rtvq
                ? new BundleFileWriter(Path.Combine(staging, FormatConstants.BaseFileName), HeaderFor(FileKind.Base, options, bundleId, pendingIdentity, (uint)quantizedCount, ManifestIO.FileVersion(table, false)), headerPending: true)
                : null;
            var writers = new List<BundleFileWriter>();
            try
            {
                foreach (var p in plans)
                    writers.Add(new BundleFileWriter(Path.Combine(staging, BundleNames.TaskFileName(p.Task.Name)),
                        HeaderFor(FileKind.Task, options, bundleId, pendingIdentity, TaskRecordCount(p, stored.Count), p.FileVersion(table)), headerPending: true));
                for (int t = 0; t < plans.Count; t++) writers[t].WriteMetadata(ManifestIO.SerializeMetadata(plans[t].Metadata));

                using var id = new PretrainedIdentity();
                var encoder = new TensorEncoder(options, pretrained, plans, id);
                long done = 0, total = stored.Count;
                byte[] identity;
                try
                {
                    foreach (var entry in stored)
                    {
                        progress?.Invoke("quantizing tensors", done, total);
                        encoder.Encode(entry, baseWriter, writers);
                        done++;
                    }
                    progress?.Invoke("quantizing tensors", total, total);
                    for (int t = 0; t < plans.Count; t++) plans[t].WriteOwn(writers[t]);
                    identity = encoder.FinishIdentity();
                }
                finally { encoder.StopHashing(); } // after a failure too: no hash still running once the identity is disposed
                manifest.Pretrained = PretrainedEntryOf(pretrained, table, identity);
                // Headers and whole-file checksums, one file per core.
                var completed = new WrittenFile[plans.Count + 1];
                ParallelWork.For(plans.Count + 1, ParallelWork.Threads(options.Threads), i =>
                {
                    if (i < plans.Count)
                        completed[i] = writers[i].Complete(HeaderFor(FileKind.Task, options, bundleId, identity, TaskRecordCount(plans[i], stored.Count), plans[i].FileVersion(table)));
                    else if (baseWriter is not null)
                        completed[i] = baseWriter.Complete(HeaderFor(FileKind.Base, options, bundleId, identity, (uint)quantizedCount, ManifestIO.FileVersion(table, false)));
                });
                if (allocation is not null)
                {
                    long counted = completed.Where(c => c is not null).Sum(c => c.Length) - plans.Sum(BudgetPlanner.OwnBytes);
                    if (counted != allocation.PredictedBytes)
                        throw new InvalidOperationException($"budget allocation predicted {allocation.PredictedBytes:N0} bytes but the files hold {counted:N0}; this is a bug in the packer");
                }
                if (baseWriter is not null)
                    manifest.Base = new FileEntry { File = FormatConstants.BaseFileName, Bytes = completed[^1].Length, Sha256 = completed[^1].Sha256 };
                var stats = encoder.Stats;
                for (int t = 0; t < plans.Count; t++) manifest.Tasks.Add(plans[t].Entry(completed[t], stats[t]));
            }
            finally
            {
                baseWriter?.Dispose();
                foreach (var w in writers) w.Dispose();
            }
            ManifestIO.Save(manifest, staging);
            if (Directory.Exists(fullOut)) Directory.Delete(fullOut); // empty, checked above
            Directory.Move(staging, fullOut);
            return manifest;
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// Adds one task to an existing bundle: writes exactly one new task file and rewrites manifest.json.
    /// The pretrained checkpoint must be the one the bundle was made against (checked by identity hash). For RTVQ
    /// the existing base is reused and the offset is taken against dequant(base) + θ_pre (the only base the bundle
    /// holds, with or without the bundle's error-correction setting).
    /// </summary>
    public static TaskEntry AddTask(string bundleDir, ITensorSource pretrained, PackTask task, PackProgress? progress = null, TimeSpan? lockWait = null)
    {
        using var writeLock = BundleWriteLock.Acquire(bundleDir, lockWait ?? DefaultLockWait, message => progress?.Invoke(message, 0, 1));
        var manifest = ManifestIO.Load(bundleDir);
        var options = ManifestIO.OptionsOf(manifest);
        BundleNames.CheckTaskName(task.Name);
        if (manifest.Tasks.Any(t => string.Equals(t.Name, task.Name, StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"task '{task.Name}' is already in {bundleDir}; pick another name");
        string taskPath = Path.Combine(bundleDir, BundleNames.TaskFileName(task.Name));
        if (File.Exists(taskPath) || Directory.Exists(taskPath))
        {
            // Under the lock no other writer is running, so an unlisted task file of this bundle can only be left over
            // from an add-task that was killed between renaming its task file and renaming the manifest: replace it.
            if (!IsLeftoverTaskFile(taskPath, manifest))
                throw new IOException($"{taskPath} exists, is not in the manifest and is not a task file of this bundle; move it away first");
            progress?.Invoke($"replacing {Path.GetFileName(taskPath)}, left over from an interrupted add-task", 0, 1);
            File.Delete(taskPath);
        }

        var table = manifest.Tensors;
        progress?.Invoke("checking the pretrained weights", 0, 1);
        TaskDecoder.CheckIdentity(pretrained, manifest); // refuses any other model, naming the one the bundle expects
        byte[] identity = Convert.FromHexString(manifest.Pretrained.Sha256);

        var plan = TaskPlan.Create(task, table, pretrained);
        var bundleId = Guid.ParseExact(manifest.BundleId, "N");
        var stored = table.Where(e => e.Storage != "skipped").ToList();
        TaskEntry entry;
        using (var writer = new BundleFileWriter(taskPath, HeaderFor(FileKind.Task, options, bundleId, identity, TaskRecordCount(plan, stored.Count), plan.FileVersion(table))))
        {
            writer.WriteMetadata(ManifestIO.SerializeMetadata(plan.Metadata));
            var encoder = new TensorEncoder(options, pretrained, [plan]);
            // The base file alone (no task files): Q(base) of each quantized tensor, checked as every reader checks it.
            using (var baseFile = BundleStream.Open(bundleDir, manifest, []))
            {
                long done = 0;
                while (baseFile.MoveNext())
                {
                    var e = baseFile.Current;
                    progress?.Invoke("quantizing tensors", done++, stored.Count);
                    float[]? baseHat = null;
                    if (baseFile.BaseRecord is { } b)
                    {
                        baseHat = new float[b.ElementCount];
                        b.DecodeTo(baseHat, options.Mode);
                    }
                    encoder.EncodeAgainstBase(e, baseHat, writer);
                }
                progress?.Invoke("quantizing tensors", stored.Count, stored.Count);
                baseFile.Finish();
            }
            plan.WriteOwn(writer);
            entry = plan.Entry(writer.Complete(), encoder.Stats[0]);
        }
        manifest.Tasks.Add(entry);
        ManifestIO.Save(manifest, bundleDir);
        return entry;
    }

    /// <summary>How long add-task waits for another writer of the same bundle before it gives up.</summary>
    public static readonly TimeSpan DefaultLockWait = TimeSpan.FromMinutes(10);

    /// <summary>
    /// True when <paramref name="path"/> is a regular file whose header (checksum verified) says it is a task file of
    /// bundle <paramref name="m"/>: the output of an add-task of this bundle that never reached the manifest.
    /// </summary>
    public static bool IsLeftoverTaskFile(string path, BundleManifest m)
    {
        if (EdgeTvq.IO.LocalFile.KindOf(path) != EdgeTvq.IO.LocalFileKind.Regular) return false;
        if (m.Tasks.Any(t => t.File == Path.GetFileName(path))) return false;
        var head = new byte[FormatConstants.HeaderSize];
        using (var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1))
            if (s.ReadAtLeast(head, head.Length, throwOnEndOfStream: false) < head.Length) return false;
        try
        {
            var h = FileHeader.Read(head, path);
            return h.Kind == FileKind.Task && h.BundleId == Guid.ParseExact(m.BundleId, "N");
        }
        catch (BundleFormatException) { return false; }
    }

    /// <summary>The tensor table: every pretrained tensor, ordinal-sorted by name, with its storage.</summary>
    public static List<TensorEntry> BuildTable(ITensorSource pretrained, TensorPolicy policy)
    {
        CheckRecordCount(pretrained, pretrained.Tensors.Count + 1L);
        var table = new List<TensorEntry>();
        foreach (var t in pretrained.Tensors.OrderBy(t => t.Name, Utf8Order.Instance))
        {
            if (table.Count > 0 && table[^1].Name == t.Name)
                throw new InvalidDataException($"{Path.GetFileName(pretrained.Path)}: tensor '{t.Name}' appears twice");
            table.Add(new TensorEntry
            {
                Name = t.Name, Shape = t.Shape, Dtype = t.Dtype,
                Storage = TensorPolicy.ToText(policy.Decide(t.Name, t.Shape, t.IsFloating)),
            });
        }
        if (!table.Any(e => e.Storage != "skipped"))
            throw new InvalidDataException($"{Path.GetFileName(pretrained.Path)}: no floating-point tensors found; is this the pretrained model?");
        return table;
    }

    /// <summary>
    /// A task file holds one record per stored tensor plus its metadata, at most <see cref="FormatConstants.MaxRecords"/>:
    /// a checkpoint that would need more is refused before any work, not after writing a file the readers refuse.
    /// </summary>
    private static void CheckRecordCount(ITensorSource source, long records)
    {
        if (records > FormatConstants.MaxRecords)
            throw new InvalidDataException($"{Path.GetFileName(source.Path)}: {source.Tensors.Count:N0} tensors would need {records:N0} records in a bundle file, " +
                $"over the format's limit of {FormatConstants.MaxRecords:N0}; merge small tensors or drop unused ones before packing");
    }

    private static uint TaskRecordCount(TaskPlan plan, int stored)
    {
        long records = 1L + stored + plan.Own.Count + plan.Blobs.Count;
        CheckRecordCount(plan.Task.Source, records);
        return (uint)records;
    }

    private static PretrainedEntry PretrainedEntryOf(ITensorSource pretrained, List<TensorEntry> table, byte[] identity) => new()
    {
        Sha256 = Convert.ToHexStringLower(identity),
        Source = Path.GetFileName(pretrained.Path),
        SourcePath = Path.GetFullPath(pretrained.Path),
        TensorCount = table.Count,
        ParameterCount = table.Where(e => e.Storage != "skipped").Sum(e => e.ElementCount),
        QuantizedParameterCount = table.Where(e => e.Storage == "quantized").Sum(e => e.ElementCount),
    };

    private static FileHeader HeaderFor(FileKind kind, PackOptions o, Guid bundleId, byte[] identity, uint records, ushort version = FormatConstants.Version) => new(
        kind, o.Scheme, o.Mode, o.Scheme == Scheme.Rtvq && o.ErrorCorrection ? FileFlags.ErrorCorrection : FileFlags.None,
        bundleId, identity, records, version);
}
