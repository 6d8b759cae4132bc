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
        if (!model.Tasks.TryGetValue(task, out var view))
            throw new ArgumentException($"task '{task}' is not part of the live model ({model.Recipe}); its tasks: {string.Join(", ", model.Tasks.Keys)}");
        var head = view.Head ?? throw new InvalidDataException($"task '{task}' has no head.weight/head.bias in its bundle file; cannot classify");
        int size = view.Preprocessing.Size, pixels = size * size;
        var results = new List<Classification>(images.Count);
        for (int start = 0; start < images.Count; start += batchSize)
        {
            int n = Math.Min(batchSize, images.Count - start);
            var batch = new float[n * pixels];
            for (int i = 0; i < n; i++)
            {
                var img = images[start + i];
                if (img.Pixels.Length != pixels) throw new ArgumentException($"{img.Source}: {img.Pixels.Length} pixels, the task expects {size}×{size}");
                view.Preprocessing.Apply(img.Pixels, batch.AsSpan(i * pixels, pixels));
            }
            var features = model.Encode(batch, n, size);
            var logits = head.Logits(features, n);
            for (int i = 0; i < n; i++)
            {
                var row = logits.AsSpan(i * head.Classes, head.Classes);
                results.Add(new Classification(images[start + i].Source, images[start + i].Label, Prediction.TopK(row, topK, view.Labels)));
            }
        }
        return results;
    }
}
