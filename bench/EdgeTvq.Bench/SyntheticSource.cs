using EdgeTvq.Bundle;

namespace EdgeTvq.Bench;

/// <summary>
/// A checkpoint whose values are generated on demand from (seed, tensor name), so 9 × 88M parameters never sit in
/// memory at once. Pretrained weights ~ N(0, 0.02²); a fine-tune adds a shared shift ~ N(0, 0.001²) and its own
/// ~ N(0, 0.001²) — a task vector an order of magnitude narrower than the weights, as in the paper's Fig. 3.
/// </summary>
internal sealed class SyntheticSource(string path, List<(string Name, long[] Shape)> shapes, int task) : ITensorSource
{
    public string Path => path;
    public IReadOnlyList<SourceTensor> Tensors { get; } = shapes.Select(s => new SourceTensor(s.Name, s.Shape, "F32", true)).ToList();

    public void ReadFloat32(string name, Span<float> destination)
    {
        Fill(name, -1, 0.02f, destination, add: false);
        if (task < 0) return;
        Fill(name, 1000, 0.001f, destination, add: true);
        Fill(name, task, 0.001f, destination, add: true);
    }

    private static void Fill(string name, int stream, float sigma, Span<float> dst, bool add)
    {
        ulong state = (ulong)StableHash(name) ^ (ulong)(stream + 7) * 0xBF58476D1CE4E5B9UL | 1;
        for (int i = 0; i < dst.Length; i++)
        {
            // Sum of four uniforms (Irwin–Hall), rescaled to unit variance: cheap and close enough to Gaussian.
            float s = 0;
            for (int k = 0; k < 4; k++)
            {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                s += (state >> 40) * (1f / (1 << 24));
            }
            float v = (s - 2f) * 1.7320508f * sigma;
            dst[i] = add ? dst[i] + v : v;
        }
    }

    private static long StableHash(string s)
    {
        long h = 1469598103934665603;
        foreach (char c in s) h = (h ^ c) * 1099511628211;
        return h;
    }
}
