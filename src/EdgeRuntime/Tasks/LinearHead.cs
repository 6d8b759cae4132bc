using System.Numerics.Tensors;
using EdgeTvq.Merging;

namespace EdgeTvq.Runtime.Tasks;

/// <summary>
/// A task's classification head stored with the task (own tensors <c>head.weight</c> [C, d] and <c>head.bias</c> [C]):
/// logits = W·f + b, evaluated in float32 on the encoder's features (an output [n, d, 1, 1] counts as [n, d]).
/// </summary>
public sealed class LinearHead : ITaskHead
{
    public string Type => "linear";
    int? ITaskHead.OutputChannels => Classes;

    public FloatTensor Run(FloatTensor encoderOutput)
    {
        int batch = checked((int)encoderOutput.Shape[0]);
        if (batch > 0 && encoderOutput.Count / batch != Features)
            throw new ArgumentException($"the encoder's output has shape {encoderOutput.ShapeText}, but this task's head.weight takes {Features} features per input: the encoder does not fit this head");
        return new FloatTensor(Logits(encoderOutput.Data, batch), [batch, Classes]);
    }

    public const string WeightName = "head.weight", BiasName = "head.bias";

    private readonly float[] _weight, _bias;
    public int Classes { get; }
    public int Features { get; }

    private LinearHead(float[] weight, float[] bias, int classes, int features)
    {
        (_weight, _bias, Classes, Features) = (weight, bias, classes, features);
    }

    /// <summary>The head from a task's own tensors, or null when the task has none.</summary>
    public static LinearHead? From(WeightSet own, string task)
    {
        if (!own.Contains(WeightName)) return null;
        var shape = own.ShapeOf(WeightName);
        if (shape.Length != 2 || !own.Contains(BiasName) || own.ShapeOf(BiasName) is not [var c] || c != shape[0])
            throw new InvalidDataException($"task '{task}': head.weight must be [classes, features] and head.bias [classes]");
        return new LinearHead(own.Span(WeightName).ToArray(), own.Span(BiasName).ToArray(), (int)shape[0], (int)shape[1]);
    }

    /// <summary>Logits for a batch of features [n, d] (row-major).</summary>
    public float[] Logits(ReadOnlySpan<float> features, int batch)
    {
        if (features.Length != batch * Features)
            throw new ArgumentException($"features hold {features.Length} values, expected {batch} × {Features}: the encoder's output does not fit this task's head");
        var logits = new float[batch * Classes];
        for (int n = 0; n < batch; n++)
        {
            var f = features.Slice(n * Features, Features);
            for (int c = 0; c < Classes; c++)
                logits[n * Classes + c] = TensorPrimitives.Dot(_weight.AsSpan(c * Features, Features), f) + _bias[c];
        }
        return logits;
    }
}
