using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>
/// One task being packed: its checkpoint checked against the tensor table, its own tensors (floating tensors
/// the pretrained model lacks, e.g. a classification head) and its metadata record.
/// </summary>
internal sealed class TaskPlan
{
    public required PackTask Task { get; init; }
    public required List<SourceTensor> Own { get; init; }
    public required TaskMetadata Metadata { get; init; }

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
        var meta = TaskMetadataBuilder.Build(task.Name, file, task.Metadata, task.MetadataFile);
        return new TaskPlan { Task = task, Own = own, Metadata = meta };
    }

    public void WriteOwnTensors(BundleFileWriter writer)
    {
        foreach (var t in Own)
        {
            var v = new float[t.ElementCount];
            Task.Source.ReadFloat32(t.Name, v);
            TensorEncoder.CheckFinite(v, t.Name, Task.Source.Path);
            writer.WriteFloat32(t.Name, t.Shape, v, ownTensor: true);
        }
    }

    public TaskEntry Entry(WrittenFile w, TaskStats stats) => new()
    {
        Name = Task.Name,
        File = Path.GetFileName(w.Path),
        Bytes = w.Length,
        Sha256 = w.Sha256,
        Source = Path.GetFileName(Task.Source.Path),
        OwnTensors = Own.Select(o => new OwnTensorEntry { Name = o.Name, Shape = o.Shape }).ToList(),
        Stats = stats,
    };
}
