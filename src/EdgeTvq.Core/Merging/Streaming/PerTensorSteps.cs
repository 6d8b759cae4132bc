using System.Numerics.Tensors;
using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Merging.Streaming;

// Per-tensor methods: one pass, nothing kept between tensors. Each evaluates the same float operations in the same
// order as its in-memory reference in Merging/Methods, so the streaming result equals the reference bit for bit
// (tests hold them to that); they are written separately so that the reference stays an independent oracle.

/// <summary>Δ = λ Σ_t τ_t (the general path's task arithmetic; DARE ends with it).</summary>
internal sealed class TaskArithmeticStep(float lambda) : StreamingMethod
{
    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        for (int t = 0; t < tau.Count; t++) TensorPrimitives.Add(delta, tau[t], delta);
        TensorPrimitives.Multiply(delta, lambda, delta);
    }
}

/// <summary>MagMax: sel ← where(|τ_t| ≥ |sel|, τ_t, sel) over tasks in order (later task wins ties); Δ = λ·sel.</summary>
internal sealed class MagMaxStep(float lambda) : StreamingMethod
{
    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        for (int t = 0; t < tau.Count; t++)
        {
            var v = tau[t];
            for (int i = 0; i < delta.Length; i++)
                delta[i] = MathF.Abs(v[i]) >= MathF.Abs(delta[i]) ? v[i] : delta[i];
        }
        for (int i = 0; i < delta.Length; i++) delta[i] *= lambda;
    }
}

/// <summary>Breadcrumbs: per row, the mask of <see cref="Breadcrumbs.Mask"/>; Δ = α Σ_t (m_t ∘ τ_t).</summary>
internal sealed class BreadcrumbsStep(float alpha, double beta, double gamma) : StreamingMethod
{
    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        for (int t = 0; t < tau.Count; t++)
        {
            var v = tau[t];
            var mask = Breadcrumbs.Mask(v, tensor.Shape, beta, gamma);
            for (int i = 0; i < delta.Length; i++)
                if (mask[i]) delta[i] += v[i];
        }
        for (int i = 0; i < delta.Length; i++) delta[i] *= alpha;
    }
}

/// <summary>
/// Consensus TA with TALL masks, per tensor: τ_MTL = Σ_t τ_t, m_t = |τ_t| &gt; λ|τ_MTL − τ_t|, keep = Σ_t m_t ≥ k,
/// Δ = α·(τ_MTL ∘ keep). Per-tensor because τ_MTL is.
/// </summary>
internal sealed class ConsensusStep(float alpha, int k, float tallLambda) : StreamingMethod
{
    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        for (int t = 0; t < tau.Count; t++) TensorPrimitives.Add(delta, tau[t], delta); // τ_MTL
        var buffers = tau.Buffers;
        for (int i = 0; i < delta.Length; i++)
        {
            int votes = 0;
            for (int t = 0; t < buffers.Length; t++)
            {
                float v = buffers[t][i];
                votes += MathF.Abs(v) > tallLambda * MathF.Abs(delta[i] - v) ? 1 : 0;
            }
            delta[i] = votes >= k ? alpha * delta[i] : 0f;
        }
    }
}

/// <summary>DARE: τ̃_t = (m_t ∘ τ_t)/(1 − p) with keep-masks from <paramref name="masks"/>, then Δ = λ Σ_t τ̃_t.</summary>
internal sealed class DareStep(double p, DareMaskSource masks, float lambda) : StreamingMethod
{
    private readonly float _scale = p is >= 0 and < 1 ? (float)(1.0 / (1.0 - p)) : throw new ArgumentOutOfRangeException(nameof(p), "DARE: p must lie in [0, 1)");
    private bool[] _keep = [];

    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        if (_keep.Length < tensor.Length) _keep = new bool[tensor.Length];
        var keep = _keep.AsSpan(0, tensor.Length);
        for (int t = 0; t < tau.Count; t++)
        {
            keep.Clear();
            masks(tensor.Name, t, keep);
            var v = tau[t];
            for (int i = 0; i < v.Length; i++) v[i] = keep[i] ? v[i] * _scale : 0f;
        }
        for (int t = 0; t < tau.Count; t++) TensorPrimitives.Add(delta, tau[t], delta);
        TensorPrimitives.Multiply(delta, lambda, delta);
    }
}
