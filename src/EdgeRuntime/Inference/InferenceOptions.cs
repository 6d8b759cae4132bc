using Microsoft.ML.OnnxRuntime;

namespace EdgeTvq.Runtime.Inference;

/// <summary>How <see cref="ModelSession.Create"/> builds a session.</summary>
public sealed class InferenceOptions
{
    public SessionMode Mode { get; init; } = SessionMode.WeightsAsInputs;

    /// <summary>The provider to request; when it is unavailable the session runs on CPU and says why in <see cref="ModelSession.ProviderNote"/>.</summary>
    public ExecutionProvider Provider { get; init; } = ExecutionProvider.Cpu;

    /// <summary>GPU ordinal for CUDA / TensorRT.</summary>
    public int DeviceId { get; init; }

    /// <summary>Threads for one operator (SessionOptions.IntraOpNumThreads); 0 lets ONNX Runtime choose (one per physical core).</summary>
    public int IntraOpThreads { get; init; }

    /// <summary>Cores a merge (a load or a task switch) spreads its blocks over; 0: every core. The weights are the same bit for bit.</summary>
    public int MergeThreads { get; init; }

    /// <summary>
    /// The task-dependent initializers the weight set supplies; null means every FLOAT initializer of the model.
    /// The others keep the model's own values.
    /// </summary>
    public IReadOnlyCollection<string>? WeightNames { get; init; }

    /// <summary>Graph optimization; both modes are exact at every level.</summary>
    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;
}
