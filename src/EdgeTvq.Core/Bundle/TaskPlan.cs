using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>
/// One task being packed: its checkpoint checked against the tensor table, its own tensors (floating tensors
/// the pretrained model lacks, e.g. a classification head), its own blobs (e.g. an ONNX head graph) and its
/// metadata record.
/// </summary>
internal sealed class TaskPlan
{
    public required PackTask Task { get; init; }
    public required List<SourceTensor> Own { get; init; }
    /// <summary>Sorted by the UTF-8 bytes of their names, as the manifest lists them.</summary>
    public required List<PackBlob> Blobs { get; init; }
    public required TaskMetadata Metadata { get; init; }

    /// <summary>Format version of this task's file in a bundle whose table is <paramref name="table"/> (<see cref="ManifestIO.FileVersion"/>).</summary>
    public ushort FileVersion(IReadOnlyList<TensorEntry> table) => ManifestIO.FileVersion(table, Blobs.Count > 0);

    public static TaskPlan Create(PackTask task, List<TensorEntry> table, ITensorSource pretrained)
    {
        string file = Path.GetFileName(task.Source.Path);
        var byName = new Dictionary<string, SourceTensor>(StringComparer.Ordinal);
        foreach (var t in task.Source.Tensors)
            if (!byName.TryAdd(t.Name, t)) throw new InvalidDataException($"{file}: tensor '{t.Name}' appears twice");
        foreach (var e in table)
        {
            if (e.Storage == "skipped") continue;
            if (!byName.TryGetValue(e.Name, out var t))
                throw new InvalidDataException($"{file} (task '{task.Name}'), tensor '{e.Name}': present in the pretrained checkpoint {Path.GetFileName(pretrained.Path)} but missing here. Is this a fine-tune of that model? Save the full state_dict.");
            if (!t.IsFloating)
                throw new InvalidDataException($"{file} (task '{task.Name}'), tensor '{e.Name}': dtype {t.Dtype} is not floating point, but the pretrained tensor is {e.Dtype}");
            if (!t.Shape.SequenceEqual(e.Shape))
                throw new InvalidDataException($"{file} (task '{task.Name}'), tensor '{e.Name}': shape [{string.Join(", ", t.Shape)}] differs from the pretrained shape [{string.Join(", ", e.Shape)}]; task vectors need identical architectures");
        }
        var inTable = table.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
        var own = task.Source.Tensors.Where(t => t.IsFloating && !inTable.Contains(t.Name))
            .OrderBy(t => t.Name, Utf8Order.Instance).ToList();
        if (own.Any(t => t.Shape.Length > FormatConstants.MaxRank))
            throw new InvalidDataException($"{file}: tensor '{own.First(t => t.Shape.Length > FormatConstants.MaxRank).Name}' has more than {FormatConstants.MaxRank} dimensions");
        var blobs = (task.Blobs ?? []).OrderBy(b => b.Name, Utf8Order.Instance).ToList();
        for (int i = 0; i < blobs.Count; i++)
        {
            var b = blobs[i];
            if (!BundleNames.IsValidTaskName(b.Name))
                throw new ArgumentException($"task '{task.Name}': own blob name '{b.Name}' is invalid (1-64 characters of letters, digits, '_', '.', '-')");
            if (i > 0 && blobs[i - 1].Name == b.Name) throw new ArgumentException($"task '{task.Name}': own blob '{b.Name}' is given twice");
            if (own.Any(o => o.Name == b.Name)) throw new ArgumentException($"task '{task.Name}': '{b.Name}' is both a tensor of {file} and an own blob");
            if (b.Bytes.LongLength > FormatConstants.MaxPayloadBytes) throw new ArgumentException($"{b.Source}: {b.Bytes.LongLength:N0} bytes, over the {FormatConstants.MaxPayloadBytes:N0}-byte limit of one record");
        }
        var meta = TaskMetadataBuilder.Build(task.Name, file, task.Metadata, task.MetadataFile);
        return new TaskPlan { Task = task, Own = own, Blobs = blobs, Metadata = meta };
    }

    /// <summary>The records after the table: own tensors, then own blobs (section 4.3).</summary>
    public void WriteOwn(BundleFileWriter writer)
    {
        foreach (var t in Own)
        {
            var v = new float[t.ElementCount];
            Task.Source.ReadFloat32(t.Name, v);
            TensorEncoder.CheckFinite(v, t.Name, Task.Source.Path);
            writer.WriteFloat32(t.Name, t.Shape, v, ownTensor: true);
        }
        foreach (var b in Blobs) writer.WriteBlob(b.Name, b.Bytes);
    }

    public TaskEntry Entry(WrittenFile w, TaskStats stats) => new()
    {
        Name = Task.Name,
        File = Path.GetFileName(w.Path),
        Bytes = w.Length,
        Sha256 = w.Sha256,
        Source = Path.GetFileName(Task.Source.Path),
        OwnTensors = Own.Select(o => new OwnTensorEntry { Name = o.Name, Shape = o.Shape }).ToList(),
        OwnBlobs = Blobs.Count == 0 ? null : Blobs.Select(b => new OwnBlobEntry { Name = b.Name, Bytes = b.Bytes.LongLength }).ToList(),
        Stats = stats,
    };
}
