using System.Numerics.Tensors;

namespace EdgeTvq.Runtime.Tasks;

/// <summary>One class with its probability.</summary>
public sealed record ClassScore(int Index, string Label, float Probability);

/// <summary>Top-k of a softmax over one row of logits.</summary>
public static class Prediction
{
    public static List<ClassScore> TopK(ReadOnlySpan<float> logits, int k, IReadOnlyList<string>? labels)
    {
        var p = new float[logits.Length];
        TensorPrimitives.SoftMax(logits, p);
        var order = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).ThenBy(i => i).Take(k);
        return order.Select(i => new ClassScore(i, labels is not null && i < labels.Count ? labels[i] : i.ToString(), p[i])).ToList();
    }

    public static int ArgMax(ReadOnlySpan<float> logits) => TensorPrimitives.IndexOfMax(logits);
}
