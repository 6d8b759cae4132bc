namespace EdgeTvq.Runtime.Inference;

/// <summary>How merged weights reach ONNX Runtime. Both are exact; SessionOptions.AddInitializer is not (see toolchain notes).</summary>
public enum SessionMode
{
    /// <summary>
    /// The weights become graph inputs bound zero-copy from the <see cref="EdgeTvq.Merging.WeightSet"/> on every run:
    /// fast build (the model bytes hold no weights), a task switch is <see cref="ModelSession.Rebind"/>; slower
    /// inference because weight-dependent fusions and constant folding cannot apply (about +25% latency on ViT-B/32).
    /// </summary>
    WeightsAsInputs,

    /// <summary>
    /// The weights are written into the model bytes as initializers and the session is fully optimized
    /// (ORT_ENABLE_ALL): fastest inference, slower build, and a task switch needs a new session. The weight set is
    /// freed as soon as it is copied into the model bytes.
    /// Peak memory during <see cref="ModelSession.Create"/>: the file bytes + the weights + the embedded bytes (file
    /// size + weight bytes) while embedding, then the embedded bytes + ONNX Runtime's parsed copy and its initializer
    /// tensors (estimated, not measured: roughly 3x the weights for a model whose bytes are mostly weights). The embedded byte[] is dropped once
    /// the session exists and goes with the next full GC; call GC.Collect() after Create where memory is tight.
    /// Models above 2 GiB cannot be embedded (protobuf limit): use <see cref="WeightsAsInputs"/>.
    /// </summary>
    Embedded,
}
