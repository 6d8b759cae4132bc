using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Serving;

/// <summary>One input's result: its top-k classes, and its true label when the input file carried one.</summary>
public sealed record Classification(string Input, int? TrueLabel, List<ClassScore> Top);

/// <summary>Preprocess → encoder (ONNX Runtime, merged weights) → the task's head → softmax top-k.</summary>
public static class Classifier
{
    public static List<Classification> Classify(LiveModel model, string task, IReadOnlyList<InputImage> images, int topK, int batchSize = 64)
    {
        var (view, head) = ViewOf(model, task);
        int size = view.Preprocessing.Size, pixels = size * size;
        var batch = new float[images.Count * pixels];
        for (int i = 0; i < images.Count; i++)
        {
            var img = images[i];
            if (img.Pixels.Length != pixels) throw new ArgumentException($"{img.Source}: {img.Pixels.Length} pixels, the task expects {size}×{size}");
            view.Preprocessing.Apply(img.Pixels, batch.AsSpan(i * pixels, pixels));
        }
        var logits = Logits(model, task, batch, images.Count, batchSize);
        var results = new List<Classification>(images.Count);
        for (int i = 0; i < images.Count; i++)
        {
            var row = logits.AsSpan(i * head.Classes, head.Classes);
            results.Add(new Classification(images[i].Source, images[i].Label, Prediction.TopK(row, topK, view.Labels)));
        }
        return results;
    }

    /// <summary>
    /// The task's logits [n, classes] for <paramref name="n"/> preprocessed inputs [n, 1, size, size] (row-major),
    /// run through the encoder in batches of <paramref name="batchSize"/>: the path every classification takes
    /// (files, the stdin console, the HTTP API), so the same inputs give the same bits whichever way they came.
    /// </summary>
    public static float[] Logits(LiveModel model, string task, ReadOnlySpan<float> inputs, int n, int batchSize = 64)
    {
        var (view, head) = ViewOf(model, task);
        int size = view.Preprocessing.Size, pixels = size * size;
        if (inputs.Length != (long)n * pixels) throw new ArgumentException($"{inputs.Length} input values for {n} inputs of {size}×{size}");
        var logits = new float[(long)n * head.Classes];
        for (int start = 0; start < n; start += batchSize)
        {
            int m = Math.Min(batchSize, n - start);
            var features = model.Encode(inputs.Slice(start * pixels, m * pixels).ToArray(), m, size);
            head.Logits(features, m).CopyTo(logits.AsSpan(start * head.Classes));
        }
        return logits;
    }

    private static (TaskView View, LinearHead Head) ViewOf(LiveModel model, string task)
    {
        if (!model.Tasks.TryGetValue(task, out var view))
            throw new ArgumentException($"task '{task}' is not part of the live model ({model.Recipe}); its tasks: {string.Join(", ", model.Tasks.Keys)}");
        return (view, view.Head ?? throw new InvalidDataException($"task '{task}' has no head.weight/head.bias in its bundle file; cannot classify"));
    }
}
