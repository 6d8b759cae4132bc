using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace EdgeTvq.Merging.Linear;

/// <summary>
/// A thin singular value decomposition A = U·diag(S)·Vᵀ of an m×n matrix, r = min(m, n): U is m×r, S has r entries
/// in descending order, Vt is r×n (all row-major, double). The columns of U and the rows of Vt are orthonormal, also
/// for zero singular values (there they are completed to an orthonormal set, as LAPACK does).
/// </summary>
public sealed class SvdResult
{
    internal SvdResult(int rows, int cols, double[] u, double[] s, double[] vt)
    {
        Rows = rows;
        Cols = cols;
        U = u;
        S = s;
        Vt = vt;
    }

    public int Rows { get; }
    public int Cols { get; }
    /// <summary>r = min(rows, cols).</summary>
    public int Rank => S.Length;
    /// <summary>m×r, row-major.</summary>
    public double[] U { get; }
    /// <summary>r singular values, descending.</summary>
    public double[] S { get; }
    /// <summary>r×n, row-major.</summary>
    public double[] Vt { get; }

    /// <summary>Σ_{j&lt;k} s_j·u_j·v_jᵀ as an m×n row-major matrix (k = r: A itself, up to rounding).</summary>
    public double[] Reconstruct(int k)
    {
        if ((uint)k > (uint)Rank) throw new ArgumentOutOfRangeException(nameof(k), $"rank {k} of a decomposition with {Rank} components");
        var a = new double[(long)Rows * Cols];
        var row = new double[Cols];
        for (int i = 0; i < Rows; i++)
        {
            Array.Clear(row);
            for (int j = 0; j < k; j++)
            {
                double w = U[(long)i * Rank + j] * S[j];
                if (w != 0) Axpy(w, Vt.AsSpan(j * Cols, Cols), row);
            }
            row.CopyTo(a, (long)i * Cols);
        }
        return a;
    }

    internal static void Axpy(double a, ReadOnlySpan<double> x, Span<double> y)
    {
        for (int i = 0; i < y.Length; i++) y[i] += a * x[i];
    }
}

/// <summary>
/// Singular value decomposition by one-sided (Hestenes) Jacobi rotations in double precision.
/// <para>
/// Hand-written on purpose: EdgeTvq.Core must stay free of native dependencies and clean for native AOT (it runs on
/// the device), so it cannot call LAPACK, and TSV only needs thin SVDs of weight-sized matrices. One-sided Jacobi is
/// short, needs no bidiagonalisation, and is accurate to working precision for every singular value (relative
/// accuracy for well-scaled columns), at O(sweeps·n²·m) cost: fine for ViT layers, slow for matrices of several
/// thousand columns.
/// </para>
/// Algorithm: the k ≤ L vectors w_j (columns of A when m ≥ n, rows otherwise) are rotated pairwise, w_p ← c·w_p − s·w_q,
/// w_q ← s·w_p + c·w_q, with the angle that makes them orthogonal; the same rotations applied to the identity
/// accumulate the other factor. Sweeps over all pairs stop when every pair is orthogonal to 1e-15 relative. Then
/// σ_j = ‖w_j‖ and the left vectors are w_j/σ_j.
/// </summary>
public static class Svd
{
    public const int MaxSweeps = 80;
    private const double Orthogonal = 1e-15;

    public static SvdResult Decompose(float[] a, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(a);
        var d = new double[a.Length];
        for (int i = 0; i < a.Length; i++) d[i] = a[i];
        return Decompose(d, rows, cols);
    }

    /// <summary>Thin SVD of the row-major <paramref name="rows"/>×<paramref name="cols"/> matrix <paramref name="a"/> (not modified).</summary>
    public static SvdResult Decompose(double[] a, int rows, int cols)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        if (a.Length != checked((long)rows * cols))
            throw new ArgumentException($"a {rows}×{cols} matrix holds {(long)rows * cols} values, got {a.Length}");
        foreach (double x in a)
            if (!double.IsFinite(x)) throw new ArgumentException("the matrix holds a NaN or an infinity");

        bool tall = rows >= cols;
        int k = Math.Min(rows, cols), length = Math.Max(rows, cols);
        // w: k vectors of `length` (columns of A if tall, else rows of A = columns of Aᵀ), contiguous per vector.
        var w = new double[(long)k * length];
        if (tall)
        {
            for (int i = 0; i < rows; i++)
                for (int j = 0; j < cols; j++) w[(long)j * length + i] = a[(long)i * cols + j];
        }
        else
        {
            Array.Copy(a, w, a.Length);
        }
        // v: k vectors of k, the accumulated rotations (v_j = column j of the right factor of the k-vector problem).
        var v = new double[(long)k * k];
        for (int j = 0; j < k; j++) v[(long)j * k + j] = 1;

        Rotate(w, v, k, length);

        var sigma = new double[k];
        for (int j = 0; j < k; j++) sigma[j] = Math.Sqrt(TensorPrimitives.Dot<double>(w.AsSpan(j * length, length), w.AsSpan(j * length, length)));
        var order = Enumerable.Range(0, k).OrderByDescending(j => sigma[j]).ToArray(); // stable: ties keep their order

        // Left vectors w_j/σ_j in descending order; those of (numerically) zero σ are completed afterwards.
        var left = new double[(long)k * length];
        var s = new double[k];
        double max = k == 0 ? 0 : sigma[order[0]];
        double zero = max * Math.Max(rows, cols) * 1e-16; // below this, w_j is rounding noise: no direction
        var degenerate = new List<int>();
        for (int r = 0; r < k; r++)
        {
            int j = order[r];
            s[r] = sigma[j];
            if (sigma[j] <= zero) { degenerate.Add(r); continue; }
            var src = w.AsSpan(j * length, length);
            var dst = left.AsSpan(r * length, length);
            TensorPrimitives.Divide(src, sigma[j], dst);
        }
        if (degenerate.Count > 0) Complete(left, k, length, degenerate);

        // Assemble U (rows×k) and Vt (k×cols).
        var u = new double[(long)rows * k];
        var vt = new double[(long)k * cols];
        if (tall)
        {
            // W = A·V with V orthogonal, so A = W·Vᵀ: U[:, r] = left_r, Vt[r, :] = v_{order[r]}.
            for (int r = 0; r < k; r++)
            {
                for (int i = 0; i < rows; i++) u[(long)i * k + r] = left[(long)r * length + i];
                Array.Copy(v, (long)order[r] * k, vt, (long)r * cols, k);
            }
        }
        else
        {
            // Aᵀ = left·diag(s)·vᵀ, so A = v·diag(s)·leftᵀ: U[:, r] = v_{order[r]}, Vt[r, :] = left_r.
            for (int r = 0; r < k; r++)
            {
                for (int i = 0; i < rows; i++) u[(long)i * k + r] = v[(long)order[r] * k + i];
                Array.Copy(left, (long)r * length, vt, (long)r * cols, cols);
            }
        }
        return new SvdResult(rows, cols, u, s, vt);
    }

    /// <summary>Jacobi sweeps over all pairs of the k vectors of w until they are mutually orthogonal.</summary>
    private static void Rotate(double[] w, double[] v, int k, int length)
    {
        // ‖w_j‖², recomputed at every sweep and updated after each rotation (α' = α − tγ, β' = β + tγ): one dot product
        // per pair instead of three.
        var norms = new double[k];
        for (int sweep = 0; sweep < MaxSweeps; sweep++)
        {
            bool rotated = false;
            double largest = 0;
            for (int j = 0; j < k; j++)
            {
                norms[j] = TensorPrimitives.Dot<double>(w.AsSpan(j * length, length), w.AsSpan(j * length, length));
                largest = Math.Max(largest, norms[j]);
            }
            // A vector at or below the zero threshold of Decompose (σ ≤ σ_max·length·1e-16; no column norm exceeds
            // σ_max) is rounding noise with no direction: an exactly rank-deficient matrix leaves such vectors behind,
            // and no rotation makes noise orthogonal to relative precision. They are left alone (their norms then stay
            // below the threshold) and completed to an orthonormal set afterwards.
            double negligible = largest * Square(length * 1e-16);
            for (int p = 0; p < k - 1; p++)
            {
                var wp = w.AsSpan(p * length, length);
                if (norms[p] <= negligible) continue;
                for (int q = p + 1; q < k; q++)
                {
                    if (norms[q] <= negligible) continue;
                    var wq = w.AsSpan(q * length, length);
                    double alpha = norms[p], beta = norms[q];
                    double gamma = TensorPrimitives.Dot<double>(wp, wq);
                    if (gamma == 0 || Math.Abs(gamma) <= Orthogonal * Math.Sqrt(alpha * beta)) continue;
                    rotated = true;
                    // tan θ = t solves t² + 2ζt − 1 = 0 with ζ = (β − α)/(2γ); the smaller root keeps the rotation small.
                    double zeta = (beta - alpha) / (2 * gamma);
                    double t = zeta == 0 ? 1 : Math.Sign(zeta) / (Math.Abs(zeta) + Math.Sqrt(1 + zeta * zeta));
                    double c = 1 / Math.Sqrt(1 + t * t), s = c * t;
                    Apply(wp, wq, c, s);
                    Apply(v.AsSpan(p * k, k), v.AsSpan(q * k, k), c, s);
                    norms[p] = Math.Max(0, alpha - t * gamma);
                    norms[q] = Math.Max(0, beta + t * gamma);
                }
            }
            if (!rotated) return;
        }
        throw new InvalidOperationException($"Jacobi SVD did not converge in {MaxSweeps} sweeps");
    }

    private static double Square(double x) => x * x;

    /// <summary>(x, y) ← (c·x − s·y, s·x + c·y), with SIMD over the vector width and a scalar tail.</summary>
    private static void Apply(Span<double> x, Span<double> y, double c, double s)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated && x.Length >= Vector<double>.Count)
        {
            var vx = MemoryMarshal.Cast<double, Vector<double>>(x);
            var vy = MemoryMarshal.Cast<double, Vector<double>>(y);
            var vc = new Vector<double>(c);
            var vs = new Vector<double>(s);
            for (int v = 0; v < vx.Length; v++)
            {
                var a = vx[v];
                var b = vy[v];
                vx[v] = vc * a - vs * b;
                vy[v] = vs * a + vc * b;
            }
            i = vx.Length * Vector<double>.Count;
        }
        for (; i < x.Length; i++)
        {
            double a = x[i], b = y[i];
            x[i] = c * a - s * b;
            y[i] = s * a + c * b;
        }
    }

    /// <summary>
    /// Replaces the vectors at <paramref name="missing"/> by unit vectors orthogonal to all others (Gram–Schmidt on
    /// the standard basis, twice for accuracy).
    /// </summary>
    private static void Complete(double[] vectors, int count, int length, List<int> missing)
    {
        var isMissing = new bool[count];
        foreach (int m in missing) isMissing[m] = true;
        var candidate = new double[length];
        int next = 0;
        foreach (int m in missing)
        {
            var dst = vectors.AsSpan(m * length, length);
            for (; next < length; next++)
            {
                Array.Clear(candidate);
                candidate[next] = 1;
                for (int pass = 0; pass < 2; pass++)
                    for (int j = 0; j < count; j++)
                    {
                        if (isMissing[j]) continue;
                        var other = vectors.AsSpan(j * length, length);
                        SvdResult.Axpy(-TensorPrimitives.Dot<double>(other, candidate), other, candidate);
                    }
                double norm = Math.Sqrt(TensorPrimitives.Dot<double>(candidate, candidate));
                if (norm * norm > 0.5 / length)
                {
                    TensorPrimitives.Divide(candidate, norm, dst);
                    isMissing[m] = false;
                    next++;
                    break;
                }
            }
            if (isMissing[m]) throw new InvalidOperationException("could not complete an orthonormal basis");
        }
    }

    /// <summary>
    /// The orthogonal polar factor of an m×k matrix (k ≤ m): the P with orthonormal columns nearest to A,
    /// P = U·Vᵀ from A = U·diag(S)·Vᵀ.
    /// </summary>
    public static double[] PolarFactor(double[] a, int rows, int cols)
    {
        var d = Decompose(a, rows, cols);
        int r = d.Rank;
        var p = new double[(long)rows * cols];
        var row = new double[cols];
        for (int i = 0; i < rows; i++)
        {
            Array.Clear(row);
            for (int j = 0; j < r; j++) SvdResult.Axpy(d.U[(long)i * r + j], d.Vt.AsSpan(j * cols, cols), row);
            row.CopyTo(p, (long)i * cols);
        }
        return p;
    }
}
