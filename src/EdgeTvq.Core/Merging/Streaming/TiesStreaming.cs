using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Merging.Streaming;

/// <summary>
/// TIES on the stream, with the reference's exact global statistics (<see cref="TiesMerging"/>):
/// <list type="number">
/// <item>Passes 0 and 1: per task, the exact kthvalue(|τ_t|, d − int(d·K)) over the whole flattened vector by radix
/// select on the float bit patterns of |τ| (for non-negative finite floats the bit pattern orders like the value):
/// pass 0 counts the upper 16 bits (2^16 counters per task), which fixes the bin holding the k-th smallest; pass 1
/// counts the lower 16 bits of the entries in that bin, which fixes the value. Order-free, so the bundle's tensor
/// order gives the same threshold as the reference's name-sorted flattening.</item>
/// <item>Pass 2: the global majority sign, sign(Σ over every entry of sign(Σ_t τ̂_t)), used where the elected sign is 0.</item>
/// <item>Merge pass: trim (keep |τ_t| ≥ kth), elect, disjoint mean or sum, times λ.</item>
/// </list>
/// Memory: 2 × 2^16 counters per task and a few scalars.
/// </summary>
internal sealed class TiesStreaming : StreamingMethod
{
    private const int Bins = 1 << 16;
    private readonly double _k;
    private readonly float _lambda;
    private readonly DisjointAggregation _aggregation;
    private long[][] _histograms = [];
    private long[] _remaining = [];   // per task: rank still to find inside the chosen upper bin
    private uint[] _upper = [];       // per task: the chosen upper 16 bits
    private float[] _threshold = [];  // per task: kth (0 keeps everything: |τ| ≥ 0 always holds)
    private long _entries;
    private double _majority;
    private float _fallback;

    public TiesStreaming(double k, float lambda, DisjointAggregation aggregation)
    {
        if (k > 1) k /= 100;
        if (!(k > 0 && k <= 1)) throw new ArgumentOutOfRangeException(nameof(k), $"TIES: k must lie in (0, 1] (or (1, 100] as a percentage), got {k}");
        (_k, _lambda, _aggregation) = (k, lambda, aggregation);
    }

    public override int StatisticPasses => 3;

    private static uint AbsBits(float v) => (uint)BitConverter.SingleToInt32Bits(v) & 0x7FFF_FFFFu;

    public override void Observe(int pass, in TensorInfo tensor, TaskVectors tau)
    {
        if (_threshold.Length == 0)
        {
            _histograms = new long[tau.Count][];
            for (int t = 0; t < tau.Count; t++) _histograms[t] = new long[Bins];
            _remaining = new long[tau.Count];
            _upper = new uint[tau.Count];
            _threshold = new float[tau.Count];
        }
        switch (pass)
        {
            case 0:
                _entries += tensor.Length;
                for (int t = 0; t < tau.Count; t++)
                {
                    var h = _histograms[t];
                    foreach (float v in tau[t]) h[AbsBits(v) >> 16]++;
                }
                break;
            case 1:
                for (int t = 0; t < tau.Count; t++)
                {
                    if (_remaining[t] <= 0) continue; // keeps everything
                    var h = _histograms[t];
                    uint upper = _upper[t];
                    foreach (float v in tau[t])
                    {
                        uint bits = AbsBits(v);
                        if (bits >> 16 == upper) h[bits & 0xFFFF]++;
                    }
                }
                break;
            case 2:
                var buffers = tau.Buffers;
                for (int i = 0; i < tensor.Length; i++)
                {
                    float s = 0f;
                    for (int t = 0; t < buffers.Length; t++) s += Trimmed(buffers[t][i], t);
                    _majority += MathF.Sign(s);
                }
                break;
        }
    }

    public override void EndPass(int pass)
    {
        if (pass == 0)
        {
            long rank = _entries - (long)(_entries * _k); // 1-based rank of kth among the sorted |τ|
            for (int t = 0; t < _histograms.Length; t++)
            {
                if (rank <= 0 || _entries == 0) { _remaining[t] = 0; continue; }
                var h = _histograms[t];
                long below = 0;
                uint bin = 0;
                while (below + h[bin] < rank) below += h[bin++];
                _upper[t] = bin;
                _remaining[t] = rank - below;
                Array.Clear(h);
            }
        }
        else if (pass == 1)
        {
            for (int t = 0; t < _histograms.Length; t++)
            {
                if (_remaining[t] <= 0) continue;
                var h = _histograms[t];
                long below = 0;
                uint low = 0;
                while (below + h[low] < _remaining[t]) below += h[low++];
                _threshold[t] = BitConverter.Int32BitsToSingle((int)(_upper[t] << 16 | low));
            }
            _histograms = []; // the counters are no longer needed
        }
        else if (pass == 2)
        {
            _fallback = Math.Sign(_majority);
        }
    }

    private float Trimmed(float v, int t) => MathF.Abs(v) >= _threshold[t] ? v : 0f;

    public override void Merge(in TensorInfo tensor, TaskVectors tau, Span<float> delta)
    {
        for (int t = 0; t < tau.Count; t++)
        {
            var v = tau[t];
            for (int i = 0; i < v.Length; i++) v[i] = Trimmed(v[i], t);
        }
        var buffers = tau.Buffers;
        for (int i = 0; i < delta.Length; i++)
        {
            float s = 0f;
            for (int t = 0; t < buffers.Length; t++) s += buffers[t][i];
            float gamma = MathF.Sign(s);
            if (gamma == 0) gamma = _fallback;
            float sum = 0f;
            int count = 0;
            for (int t = 0; t < buffers.Length; t++)
            {
                // No data-dependent branch: a rejected entry adds +0 (the sum is never −0, so this changes nothing).
                float v = buffers[t][i];
                bool agrees = gamma > 0 ? v > 0 : v < 0;
                sum += agrees ? v : 0f;
                count += agrees ? 1 : 0;
            }
            delta[i] = _lambda * (_aggregation == DisjointAggregation.Mean ? sum / Math.Max(1, count) : sum);
        }
    }
}
