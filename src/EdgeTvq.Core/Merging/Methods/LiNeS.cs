using System.Text.RegularExpressions;

namespace EdgeTvq.Merging.Methods;

/// <summary>
/// LiNeS (Wang et al. 2025), layer-increasing network scaling of a merged task vector τ_MTL: a tensor whose name
/// holds the block pattern for block l of L (default "blocks.{i}.", so "…resblocks.3.…" is block 3) is scaled by
/// α + β·l/(L − 1); every other tensor by α. α = (‖Σ_t τ_t‖₁/‖τ_MTL‖₁)/T (= 1/T for task arithmetic), β = 0.5.
/// </summary>
public static class LiNeS
{
    public const float DefaultBeta = 0.5f;
    public const string DefaultBlockPattern = "blocks.{i}.";

    /// <summary>The block index l of a tensor name, or −1 when it belongs to no block.</summary>
    public static int BlockIndex(string name, string blockPattern = DefaultBlockPattern)
    {
        var match = BlockRegex(blockPattern).Match(name);
        return match.Success ? int.Parse(match.Groups[1].ValueSpan, System.Globalization.CultureInfo.InvariantCulture) : -1;
    }

    /// <summary>The scale of a tensor: α + β·l/(L − 1) for block l (α + 0 when L = 1), α outside the blocks.</summary>
    public static float Scale(int block, int numBlocks, float alpha, float beta) =>
        block < 0 ? alpha : numBlocks <= 1 ? alpha : alpha + beta * block / (numBlocks - 1);

    /// <summary>Scales τ_MTL (one delta per name) tensor by tensor; L defaults to 1 + the largest block index found.</summary>
    public static float[][] Apply(IReadOnlyList<string> names, IReadOnlyList<float[]> tauMtl, float alpha, float beta = DefaultBeta,
        int? numBlocks = null, string blockPattern = DefaultBlockPattern)
    {
        if (names.Count != tauMtl.Count) throw new ArgumentException("one name per tensor");
        var blocks = new int[names.Count];
        int maxBlock = -1;
        for (int n = 0; n < names.Count; n++) maxBlock = Math.Max(maxBlock, blocks[n] = BlockIndex(names[n], blockPattern));
        int L = numBlocks ?? maxBlock + 1;
        if (maxBlock >= L) throw new ArgumentException($"block {maxBlock} found but only {L} blocks given");
        var delta = new float[names.Count][];
        for (int n = 0; n < names.Count; n++)
        {
            float s = Scale(blocks[n], L, alpha, beta);
            delta[n] = new float[tauMtl[n].Length];
            System.Numerics.Tensors.TensorPrimitives.Multiply(tauMtl[n], s, delta[n]);
        }
        return delta;
    }

    /// <summary>α = (‖Σ_t τ_t‖₁ / ‖τ_MTL‖₁) / T, the norms over all tensors.</summary>
    public static float Alpha(IReadOnlyList<TaskTensor> table, IReadOnlyList<float[]> tauMtl)
    {
        int tasks = Table.Validate(table);
        double sumNorm = 0, mtlNorm = 0;
        for (int n = 0; n < table.Count; n++)
        {
            sumNorm += System.Numerics.Tensors.TensorPrimitives.SumOfMagnitudes(Table.Sum(table[n]));
            mtlNorm += System.Numerics.Tensors.TensorPrimitives.SumOfMagnitudes(tauMtl[n]);
        }
        return mtlNorm == 0 ? 0f : (float)(sumNorm / mtlNorm / tasks);
    }

    /// <summary>LiNeS on task arithmetic: τ_MTL = Σ_t τ_t, α = 1/T.</summary>
    public static float[][] TaskArithmetic(IReadOnlyList<TaskTensor> table, float beta = DefaultBeta, int? numBlocks = null,
        string blockPattern = DefaultBlockPattern)
    {
        int tasks = Table.Validate(table);
        var names = new string[table.Count];
        var sums = new float[table.Count][];
        for (int n = 0; n < table.Count; n++) { names[n] = table[n].Name; sums[n] = Table.Sum(table[n]); }
        return Apply(names, sums, 1f / Math.Max(1, tasks), beta, numBlocks, blockPattern);
    }

    private static Regex BlockRegex(string pattern)
    {
        int at = pattern.IndexOf("{i}", StringComparison.Ordinal);
        if (at < 0) throw new ArgumentException("the block pattern needs an {i} placeholder", nameof(pattern));
        return new Regex(Regex.Escape(pattern[..at]) + @"(\d+)" + Regex.Escape(pattern[(at + 3)..]), RegexOptions.CultureInvariant);
    }
}
