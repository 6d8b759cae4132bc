using EdgeTvq.Merging;

namespace EdgeTvq.Runtime.Serving;

/// <summary>
/// What merged weights must satisfy before a model is served, beyond being finite. Task arithmetic and its kin add
/// task vectors to BatchNorm running variances too, and can drive one below zero; BatchNorm then takes the square
/// root of a negative number and the model outputs NaN (PyTorch and ONNX Runtime alike). Such a model is refused
/// here, before it is swapped in, naming the tensor and what to change (docs/runtime.md, "The model contract").
/// </summary>
public static class MergedStatistics
{
    /// <summary>The suffix of a BatchNorm running variance in PyTorch state-dict names (the contract's initializer names).</summary>
    public const string RunningVarianceSuffix = "running_var";

    /// <summary>Null when every running variance is ≥ 0; otherwise the problem, for an error message.</summary>
    public static string? Problem(WeightSet weights)
    {
        int tensors = 0;
        long negative = 0;
        float lowest = 0;
        string? first = null;
        foreach (var name in weights.Names)
        {
            if (!name.EndsWith(RunningVarianceSuffix, StringComparison.Ordinal)) continue;
            long here = 0;
            foreach (float v in weights.Span(name))
                if (v < 0) { here++; lowest = Math.Min(lowest, v); }
            if (here == 0) continue;
            tensors++;
            negative += here;
            first ??= name;
        }
        return first is null ? null
            : $"the merge makes {negative} BatchNorm running variance value(s) negative in {tensors} tensor(s), first '{first}' (lowest {lowest:G3}); " +
              "this model would output NaN. Use a smaller λ, fewer tasks, or tune the recipe on validation data (edgetvq-pack tune)";
    }
}
