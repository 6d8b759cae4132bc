using System.Numerics.Tensors;
using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

public enum DecodeTarget
{
    /// <summary>τ̂_t (task-specific own tensors as their values).</summary>
    TaskVector,
    /// <summary>θ_pre + τ̂_t (own tensors as their values).</summary>
    Finetuned,
}

/// <summary>One step of a walk through a task file: the table entry (null for an own tensor) and its records.</summary>
public readonly record struct WalkStep(TensorEntry? Entry, OwnTensorEntry? Own, BundleRecord TaskRecord, BundleRecord? BaseRecord);

/// <summary>A decoded tensor: τ̂ or θ̂ for table tensors, the stored value for own tensors.</summary>
public sealed record DecodedTensor(string Name, long[] Shape, bool IsOwn, float[] Values);

/// <summary>
/// Reads one task of a bundle front to back — the task file and, for RTVQ, the base file in lockstep — checking
/// every record against the manifest, and reconstructs τ̂_t tensor by tensor:
/// <code>
///   TVQ: τ̂ = dq(task record)      RTVQ: τ̂ = dq(base record) + dq(offset record)      FQ: τ̂ = dq(task record) − θ_pre
/// </code>
/// Full-precision tensors are stored as τ in float32 under every scheme.
/// </summary>
public static class TaskDecoder
{
    public static TaskEntry FindTask(BundleManifest m, string name) =>
        m.Tasks.FirstOrDefault(t => t.Name == name)
        ?? throw new ArgumentException($"task '{name}' is not in this bundle; it has: {string.Join(", ", m.Tasks.Select(t => t.Name))}");

    /// <summary>
    /// Checks the files of <paramref name="task"/> completely (the task file and, for RTVQ, the base file, through a
    /// <see cref="BundleStream"/>) and hands every step to <paramref name="onStep"/> (payloads valid during the call).
    /// </summary>
    public static TaskMetadata Walk(string bundleDir, BundleManifest m, TaskEntry task, Action<WalkStep>? onStep)
    {
        using var stream = BundleStream.Open(bundleDir, m, [task]);
        while (stream.MoveNext())
            onStep?.Invoke(new WalkStep(stream.Current, null, stream.TaskRecord(0), stream.BaseRecord));
        stream.ReadOwn(0, onStep is null ? null : (int _, OwnTensorEntry own, in BundleRecord r) => onStep(new WalkStep(null, own, r, null)));
        stream.Finish();
        return stream.Metadata[0]!;
    }

    /// <summary>
    /// Decodes <paramref name="task"/>. <paramref name="pretrained"/> is needed for FQ and for
    /// <see cref="DecodeTarget.Finetuned"/>; when given it must be the bundle's pretrained model.
    /// </summary>
    public static TaskMetadata Decode(string bundleDir, BundleManifest m, TaskEntry task, ITensorSource? pretrained, DecodeTarget target, Action<DecodedTensor> onTensor)
    {
        var o = ManifestIO.OptionsOf(m);
        bool needPre = o.Scheme == Scheme.Fq || target == DecodeTarget.Finetuned;
        if (needPre && pretrained is null)
            throw new ArgumentException(o.Scheme == Scheme.Fq
                ? $"an FQ bundle stores quantized fine-tuned weights; decoding needs --pretrained ({m.Pretrained.Source})"
                : $"--as finetuned needs --pretrained ({m.Pretrained.Source})");
        if (pretrained is not null) CheckIdentity(pretrained, m);

        return Walk(bundleDir, m, task, step =>
        {
            if (step.Own is { } own)
            {
                var v = new float[step.TaskRecord.ElementCount];
                step.TaskRecord.DecodeTo(v, o.Mode);
                onTensor(new DecodedTensor(own.Name, own.Shape, true, v));
                return;
            }
            var e = step.Entry!;
            var values = new float[e.ElementCount];
            step.TaskRecord.DecodeTo(values, o.Mode);
            if (step.BaseRecord is { } b)
            {
                var baseHat = new float[e.ElementCount];
                b.DecodeTo(baseHat, o.Mode);
                TensorPrimitives.Add(values, baseHat, values);
            }
            float[]? pre = null;
            if (needPre)
            {
                pre = new float[e.ElementCount];
                pretrained!.ReadFloat32(e.Name, pre);
            }
            bool valuesAreFinetuned = o.Scheme == Scheme.Fq && e.Storage == "quantized";
            if (target == DecodeTarget.TaskVector && valuesAreFinetuned) TensorPrimitives.Subtract(values, pre!, values);
            if (target == DecodeTarget.Finetuned && !valuesAreFinetuned) TensorPrimitives.Add(values, pre!, values);
            onTensor(new DecodedTensor(e.Name, e.Shape, false, values));
        });
    }

    /// <summary>Where <see cref="CheckIdentity"/> reads a tensor to; null: a temporary array.</summary>
    public delegate Span<float> TensorBuffer(TensorEntry entry);

    /// <summary>
    /// Refuses a pretrained checkpoint other than the one the bundle was made against (missing tensors, other shapes,
    /// or another identity hash). Reads every tensor once, into <paramref name="into"/> when given, so a caller that
    /// keeps the weights does not read them twice.
    /// </summary>
    public static void CheckIdentity(ITensorSource pretrained, BundleManifest m, TensorBuffer? into = null)
    {
        using var id = new PretrainedIdentity();
        var names = pretrained.Tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
        foreach (var e in m.Tensors.Where(e => e.Storage != "skipped"))
        {
            if (!names.TryGetValue(e.Name, out var t) || !t.Shape.SequenceEqual(e.Shape))
                throw new BundleFormatException(pretrained.Path, $"missing or shaped differently than in the bundle; this is not the bundle's pretrained model ({m.Pretrained.Source})", e.Name);
            var v = into is null ? new float[e.ElementCount] : into(e);
            pretrained.ReadFloat32(e.Name, v);
            id.Append(e.Name, e.Shape, v);
        }
        if (Convert.ToHexStringLower(id.Finish()) != m.Pretrained.Sha256)
            throw new BundleFormatException(pretrained.Path, $"is not the pretrained model this bundle was made against ({m.Pretrained.Source}): its identity hash differs; pass that model");
    }
}
