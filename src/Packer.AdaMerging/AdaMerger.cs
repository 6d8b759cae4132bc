using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace EdgeTvq.AdaMerging;

/// <summary>Task-wise: one λ_t per task for every tensor. Layer-wise: one λ_t^l per task and state-dict tensor.</summary>
public enum Granularity { TaskWise, LayerWise }

/// <summary>One tensor to merge: its name (the encoder's parameter name), θ_pre and τ̂_t of every task (row-major).</summary>
public sealed record MergeInput(string Name, long[] Shape, float[] Pretrained, float[][] Tau);

/// <summary>A task's linear head, logits = features·Wᵀ + b (W is classes × features).</summary>
public sealed record LinearHead(float[] Weight, float[] Bias, int Classes, int Features);

/// <summary>
/// AdaMerging (Yang et al., ICLR 2024) over quantized task vectors: θ(λ) = θ_pre + Σ_t clamp(λ_t^l, 0, 1)·τ̂_t^l, with
/// λ learned by Adam to minimise the summed Shannon entropy of each task head's predictions on unlabeled test images
/// of that task (loss = Σ_t mean_batch H(softmax(head_t(encoder_θ(λ)(x_t))))).
/// <para>
/// The gradient goes through the network once per step: the merged θ is written into the encoder's parameters, the
/// entropy is back-propagated to ∂L/∂θ^l, and the chain rule through the linear merge gives
/// ∂L/∂λ_t^l = ⟨∂L/∂θ^l, τ̂_t^l⟩ (times the clamp's derivative, 1 on [0, 1] inclusive as in torch.clamp, else 0);
/// task-wise, ∂L/∂λ_t = Σ_l ⟨∂L/∂θ^l, τ̂_t^l⟩. Adam is torch.optim.Adam's update (β = 0.9, 0.999, ε = 1e-8), in double.
/// </para>
/// The encoder is any module (a TorchScript loaded with torch.jit.load, or a module built in TorchSharp) whose named parameters include every merged tensor; its other parameters stay as they are.
/// </summary>
public sealed class AdaMerger : IDisposable
{
    private readonly Func<Tensor, Tensor> _forward;
    private readonly Parameter[] _params;
    private readonly Tensor[] _pre;
    private readonly Tensor[] _tau;      // per tensor: [T, n]
    private readonly Tensor[] _headW, _headB;
    private readonly double[] _m, _v;
    private int _step;

    public IReadOnlyList<string> TensorNames { get; }
    public int Tasks { get; }
    public Granularity Granularity { get; }
    /// <summary>Raw (unclamped) λ: [task, tensor] layer-wise, [task, 0] task-wise.</summary>
    public double[,] Lambda { get; }
    public double LearningRate { get; init; } = 1e-3;

    public const double Beta1 = 0.9, Beta2 = 0.999, Epsilon = 1e-8;

    public AdaMerger(nn.Module<Tensor, Tensor> encoder, IReadOnlyList<MergeInput> tensors, IReadOnlyList<LinearHead> heads,
        Granularity granularity, double init = 0.3)
        : this(encoder, encoder.call, tensors, heads, granularity, init)
    {
    }

    /// <summary>The encoder as a module (for its named parameters) and its forward function (a ScriptModule's call).</summary>
    public AdaMerger(nn.Module encoder, Func<Tensor, Tensor> forward, IReadOnlyList<MergeInput> tensors, IReadOnlyList<LinearHead> heads,
        Granularity granularity, double init = 0.3)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentNullException.ThrowIfNull(forward);
        _forward = forward;
        if (tensors.Count == 0) throw new ArgumentException("nothing to merge: no tensors");
        Tasks = tensors[0].Tau.Length;
        if (Tasks == 0) throw new ArgumentException("no task vectors");
        if (heads.Count != Tasks) throw new ArgumentException($"{heads.Count} heads for {Tasks} tasks");
        var byName = encoder.named_parameters().ToDictionary(p => p.name, p => p.parameter, StringComparer.Ordinal);
        var missing = tensors.Where(t => !byName.ContainsKey(t.Name)).Select(t => t.Name).ToList();
        if (missing.Count > 0)
            throw new ArgumentException($"the model has no parameter named {string.Join(", ", missing.Take(5).Select(n => $"'{n}'"))}{(missing.Count > 5 ? $" and {missing.Count - 5} more" : "")}; " +
                                        $"it has: {string.Join(", ", byName.Keys.Take(8))}{(byName.Count > 8 ? ", …" : "")} (export the model with its state-dict names: docs/adamerging.md)");
        _params = tensors.Select(t => byName[t.Name]).ToArray();
        var dtype = _params[0].dtype;
        _pre = new Tensor[tensors.Count];
        _tau = new Tensor[tensors.Count];
        for (int l = 0; l < tensors.Count; l++)
        {
            var t = tensors[l];
            if (!_params[l].shape.SequenceEqual(t.Shape))
                throw new ArgumentException($"tensor '{t.Name}': the model's parameter is [{string.Join(", ", _params[l].shape)}], the bundle's [{string.Join(", ", t.Shape)}]");
            if (t.Tau.Length != Tasks) throw new ArgumentException($"tensor '{t.Name}' has {t.Tau.Length} task vectors, expected {Tasks}");
            _pre[l] = tensor(t.Pretrained, [t.Pretrained.LongLength]).to_type(dtype);
            var flat = new float[t.Pretrained.LongLength * Tasks];
            for (int task = 0; task < Tasks; task++) t.Tau[task].CopyTo(flat, task * t.Pretrained.LongLength);
            _tau[l] = tensor(flat, [Tasks, t.Pretrained.LongLength]).to_type(dtype);
        }
        _headW = heads.Select(h => tensor(h.Weight, [h.Classes, h.Features]).to_type(dtype)).ToArray();
        _headB = heads.Select(h => tensor(h.Bias, [h.Classes]).to_type(dtype)).ToArray();
        TensorNames = tensors.Select(t => t.Name).ToArray();
        Granularity = granularity;
        Lambda = new double[Tasks, granularity == Granularity.LayerWise ? tensors.Count : 1];
        for (int i = 0; i < Lambda.GetLength(0); i++)
            for (int j = 0; j < Lambda.GetLength(1); j++) Lambda[i, j] = init;
        _m = new double[Lambda.Length];
        _v = new double[Lambda.Length];
        foreach (var (_, p) in encoder.named_parameters()) p.requires_grad = false;
        foreach (var p in _params) p.requires_grad = true;
        encoder.eval();
    }

    /// <summary>clamp(λ, 0, 1) for (task, tensor index).</summary>
    public double Coefficient(int task, int tensor) =>
        Math.Clamp(Lambda[task, Granularity == Granularity.LayerWise ? tensor : 0], 0, 1);

    /// <summary>Writes θ(λ) into the encoder's parameters.</summary>
    public void SetMergedWeights()
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        for (int l = 0; l < _params.Length; l++)
        {
            var c = new double[Tasks];
            for (int t = 0; t < Tasks; t++) c[t] = Coefficient(t, l);
            var merged = _pre[l] + tensor(c, [1, Tasks]).to_type(_tau[l].dtype).matmul(_tau[l]).squeeze(0);
            _params[l].copy_(merged.reshape(_params[l].shape));
        }
    }

    /// <summary>Σ_t mean entropy of head_t's softmax over the batch <paramref name="batches"/>[t] at the current λ.</summary>
    public double Loss(IReadOnlyList<Tensor> batches)
    {
        SetMergedWeights();
        using var _ = no_grad();
        double total = 0;
        for (int t = 0; t < Tasks; t++)
        {
            using var scope = NewDisposeScope();
            total += TaskEntropy(t, batches[t]).to_type(ScalarType.Float64).item<double>();
        }
        return total;
    }

    /// <summary>The loss at the current λ and ∂L/∂λ (same layout as <see cref="Lambda"/>).</summary>
    public (double Loss, double[,] Gradient) LossAndGradient(IReadOnlyList<Tensor> batches)
    {
        if (batches.Count != Tasks) throw new ArgumentException($"{batches.Count} batches for {Tasks} tasks");
        SetMergedWeights();
        using (NewDisposeScope())
            foreach (var p in _params) p.grad?.zero_();
        double total = 0;
        for (int t = 0; t < Tasks; t++)
        {
            using var scope = NewDisposeScope();
            var loss = TaskEntropy(t, batches[t]);
            loss.backward();
            total += loss.to_type(ScalarType.Float64).item<double>();
        }
        var grad = new double[Lambda.GetLength(0), Lambda.GetLength(1)];
        using (no_grad())
        {
            for (int l = 0; l < _params.Length; l++)
            {
                using var scope = NewDisposeScope();
                var g = _params[l].grad;
                if (g is null) continue; // the loss does not depend on this tensor
                var dots = _tau[l].mv(g.reshape(-1)).to_type(ScalarType.Float64).data<double>().ToArray(); // ⟨τ̂_t^l, ∂L/∂θ^l⟩ per task
                for (int t = 0; t < Tasks; t++)
                {
                    int j = Granularity == Granularity.LayerWise ? l : 0;
                    double raw = Lambda[t, j];
                    if (raw >= 0 && raw <= 1) grad[t, j] += dots[t];
                }
            }
        }
        return (total, grad);
    }

    /// <summary>One Adam step on λ with <paramref name="gradient"/> (torch.optim.Adam, no weight decay).</summary>
    public void AdamStep(double[,] gradient)
    {
        _step++;
        double bc1 = 1 - Math.Pow(Beta1, _step), bc2 = 1 - Math.Pow(Beta2, _step);
        int cols = Lambda.GetLength(1);
        for (int i = 0; i < Lambda.GetLength(0); i++)
            for (int j = 0; j < cols; j++)
            {
                int k = i * cols + j;
                double g = gradient[i, j];
                _m[k] = Beta1 * _m[k] + (1 - Beta1) * g;
                _v[k] = Beta2 * _v[k] + (1 - Beta2) * g * g;
                double denom = Math.Sqrt(_v[k]) / Math.Sqrt(bc2) + Epsilon;
                Lambda[i, j] -= LearningRate / bc1 * _m[k] / denom;
            }
    }

    /// <summary>Mean over the batch of H(softmax(head_t(encoder(x)))).</summary>
    private Tensor TaskEntropy(int task, Tensor images)
    {
        var features = _forward(images.to_type(_pre[0].dtype));
        var logits = features.matmul(_headW[task].t()) + _headB[task];
        var logp = logits.log_softmax(1);
        return -(logp.exp() * logp).sum(1).mean();
    }

    public void Dispose()
    {
        foreach (var t in _pre.Concat(_tau).Concat(_headW).Concat(_headB)) t.Dispose();
    }
}
