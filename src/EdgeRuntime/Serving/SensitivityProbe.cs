using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Quantization;
using EdgeTvq.Runtime.Input;

namespace EdgeTvq.Runtime.Serving;

/// <summary>One tensor's measured sensitivity.</summary>
/// <param name="Name">the tensor (manifest table name)</param>
/// <param name="Elements">its element count</param>
/// <param name="LossIncrease">Σ_t ΔL_t: validation loss increase of each task's own model when only this tensor's task vector is quantized at the probe width, summed over the tasks</param>
/// <param name="Error">Σ_t ‖Q(τ_t) − τ_t‖² of this tensor at the probe width</param>
/// <param name="Weight">the weight written: ΔL / error, floored and normalised (see <see cref="SensitivityProbe"/>)</param>
public sealed record TensorSensitivity(string Name, long Elements, double LossIncrease, double Error, double Weight);

/// <summary>Every probed tensor in table order, and each task's unperturbed validation loss.</summary>
public sealed record SensitivityResult(IReadOnlyList<TensorSensitivity> Tensors, IReadOnlyDictionary<string, double> BaseLoss, int ProbeBits);

/// <summary>
/// Data-driven sensitivity weights for the budget allocator (<c>pack --budget --sensitivity</c>), by Δloss through
/// the device path. For each validated task t the probe serves t's own model θ_pre + τ_t (the bundle's
/// <c>individual</c> recipe, merged by <see cref="ModelHost"/> like <c>edgetvq run</c>), measures its mean
/// cross-entropy L_t on the validation images, and then, one tensor i at a time, replaces τ_{t,i} by its quantized
/// copy Q_b(τ_{t,i}) (Eq. 1–2, probe width b), measures L_{t,i} and restores the tensor. With the diagonal second-order
/// model ΔL ≈ ½ Σ_j F_j δ_j² and a Fisher F that is flat inside a tensor, ΔL_{t,i} / ‖δ_{t,i}‖² estimates ½ F̄_i, the
/// loss per unit of squared error that the allocator's objective Σ_i w_i E_i needs. The weight is
/// <code>
///   r_i = max(Σ_t ΔL_{t,i}, 0) / Σ_t ‖δ_{t,i}‖²,   w_i ∝ max(r_i, 0.01 · r̄)
/// </code>
/// with r̄ the element-weighted mean of r (a perturbation can lower a validation loss by chance; the floor keeps such a
/// tensor from costing nothing), scaled so that the element-weighted mean weight is 1. A tensor whose task vectors quantize exactly at the probe width (all
/// constant) gets weight 1. Only the images handed in are looked at.
/// </summary>
public static class SensitivityProbe
{
    public const int DefaultProbeBits = 2;

    public static SensitivityResult Measure(ModelHost host, string modelPath, IReadOnlyDictionary<string, IReadOnlyList<InputImage>> validation,
        int probeBits = DefaultProbeBits, Action<string, int, int>? progress = null)
    {
        if (probeBits is < AsymmetricQuantizer.MinBits or > AsymmetricQuantizer.MaxBits)
            throw new ArgumentException($"--probe-bits must be 1–8 (got {probeBits})");
        if (validation.Count == 0) throw new ArgumentException("no validation data: give at least one --validation TASK=FILE");
        var m = host.Manifest;
        var mode = PackOptions.ParseMode(m.Quantizer);
        foreach (var (task, images) in validation)
        {
            TaskDecoder.FindTask(m, task);
            if (images.Count == 0) throw new ArgumentException($"the validation data of task '{task}' holds no image");
            if (images.FirstOrDefault(i => i.Label is null) is { } unlabelled)
                throw new ArgumentException($"validation image {unlabelled.Source} of task '{task}' has no label (an idx images file needs its labels file beside it)");
        }
        var probed = m.Tensors.Where(e => e.Storage != "skipped" && e.ElementCount > 0).ToList();
        if (probed.Count == 0) throw new ArgumentException($"the bundle's tensor table has no tensor to probe");

        var pretrained = new Dictionary<string, float[]>(StringComparer.Ordinal);
        using (var source = new CheckpointTensorSource(modelPath))
            foreach (var e in probed)
            {
                var values = new float[e.ElementCount];
                source.ReadFloat32(e.Name, values);
                pretrained[e.Name] = values;
            }

        var lossIncrease = new double[probed.Count];
        var error = new double[probed.Count];
        var baseLoss = new Dictionary<string, double>(StringComparer.Ordinal);
        int steps = validation.Count * probed.Count, step = 0;
        foreach (var (task, images) in validation)
        {
            var recipe = new RecipeDocument { Method = "individual", Tasks = [task], Task = task }.ToRecipe(m, "sensitivity probe", servedTask: task);
            host.Switch(recipe);
            using var lease = host.Acquire();
            var model = lease.Model;
            var weights = model.ProbeWeights
                ?? throw new InvalidOperationException("the sensitivity probe needs a weights-as-inputs session (the default session mode)");
            double l0 = MeanCrossEntropy(model, task, images);
            baseLoss[task] = l0;
            for (int i = 0; i < probed.Count; i++)
            {
                progress?.Invoke(task, step++, steps);
                var e = probed[i];
                var live = weights.Span(e.Name);
                var kept = live.ToArray();
                var pre = pretrained[e.Name];
                var tau = new float[kept.Length];
                for (int j = 0; j < tau.Length; j++) tau[j] = kept[j] - pre[j];
                var tauHat = new float[tau.Length];
                AsymmetricQuantizer.RoundTrip(tau, probeBits, mode, new byte[tau.Length], tauHat);
                double sq = 0;
                for (int j = 0; j < tau.Length; j++)
                {
                    double d = tauHat[j] - tau[j];
                    sq += d * d;
                    live[j] = pre[j] + tauHat[j];
                }
                try
                {
                    if (sq > 0) lossIncrease[i] += MeanCrossEntropy(model, task, images) - l0;
                    error[i] += sq;
                }
                finally { kept.CopyTo(weights.Span(e.Name)); }
            }
        }
        progress?.Invoke("", steps, steps);
        return new SensitivityResult(Weights(probed, lossIncrease, error), baseLoss, probeBits);
    }

    /// <summary>The weights from the summed measurements (the formula in the class summary).</summary>
    public static IReadOnlyList<TensorSensitivity> Weights(IReadOnlyList<TensorEntry> tensors, IReadOnlyList<double> lossIncrease, IReadOnlyList<double> error)
    {
        // Loss per unit of squared error, ΔL_i / E_i (0 where the probe lowered the loss), floored at 1 % of the
        // element-weighted mean ratio, then scaled to an element-weighted mean of 1.
        var ratio = new double[tensors.Count];
        double weighted = 0, elements = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            if (error[i] <= 0) continue;
            ratio[i] = Math.Max(lossIncrease[i], 0) / error[i];
            weighted += ratio[i] * tensors[i].ElementCount;
            elements += tensors[i].ElementCount;
        }
        double floor = elements > 0 && weighted > 0 ? FloorFraction * weighted / elements : 1;
        weighted = 0;
        for (int i = 0; i < tensors.Count; i++)
        {
            if (error[i] <= 0) continue;
            ratio[i] = Math.Max(ratio[i], floor);
            weighted += ratio[i] * tensors[i].ElementCount;
        }
        double scale = weighted > 0 ? elements / weighted : 1;
        return tensors.Select((e, i) => new TensorSensitivity(e.Name, e.ElementCount, lossIncrease[i], error[i],
            error[i] > 0 ? ratio[i] * scale : 1)).ToList();
    }

    /// <summary>The weights file <c>pack --sensitivity</c> reads: one JSON object, tensor name → weight, in table order.</summary>
    public static byte[] WeightsJson(SensitivityResult result)
    {
        using var buffer = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(buffer, new System.Text.Json.JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            foreach (var t in result.Tensors) w.WriteNumber(t.Name, t.Weight);
            w.WriteEndObject();
        }
        return buffer.ToArray();
    }

    /// <summary>The smallest weight, as a fraction of the mean: a tensor whose probe lowered the loss is not free.</summary>
    public const double FloorFraction = 0.01;

    /// <summary>Mean cross-entropy −log p(label) of a classification task on labelled images (<see cref="TaskRunner.Run"/>, all classes).</summary>
    public static double MeanCrossEntropy(LiveModel model, string task, IReadOnlyList<InputImage> images)
    {
        var view = TaskRunner.ViewOf(model, task);
        if (view.Kind != TaskKind.Classification)
            throw new ArgumentException($"task '{task}' is a {TaskKinds.Name(view.Kind)} task; the sensitivity probe scores classification loss only");
        var results = TaskRunner.Run(model, task, images, topK: int.MaxValue);
        double sum = 0;
        foreach (var r in results)
        {
            double p = r.Top!.FirstOrDefault(s => s.Index == r.TrueLabel)?.Probability ?? 0;
            sum -= Math.Log(Math.Max(p, 1e-30));
        }
        return sum / results.Count;
    }
}
