using System.Text.Json;
using EdgeTvq.Merging.Linear;
using EdgeTvq.TestSupport;

namespace EdgeTvq.Tests.Merging.Linear;

/// <summary>Reference outputs of fixtures/tsv_reference.py (Debian torch, float64), computed once and cached.</summary>
public sealed class TsvReferenceFixture
{
    public JsonElement Root { get; }

    public TsvReferenceFixture()
    {
        string dir = PythonScript.RunCached(Path.Combine(AppContext.BaseDirectory, "fixtures", "tsv_reference.py"), "tsv_reference.json", "edgetvq-tsv-reference");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, "tsv_reference.json")));
        Root = doc.RootElement.Clone();
    }

    public static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => (float)x.GetDouble()).ToArray();
    public static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();
}

public class SvdTests : IClassFixture<TsvReferenceFixture>
{
    private readonly TsvReferenceFixture _fx;
    public SvdTests(TsvReferenceFixture fx) => _fx = fx;

    private static double[] Random(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, rows * cols).Select(_ => rng.NextDouble() * 2 - 1).ToArray();
    }

    /// <summary>max |A − U·diag(S)·Vᵀ|, max |UᵀU − I|, max |V·Vᵀ − I| and the descending order of S.</summary>
    private static void AssertDecomposition(double[] a, int rows, int cols, double tol = 1e-12)
    {
        var d = Svd.Decompose(a, rows, cols);
        int r = Math.Min(rows, cols);
        Assert.Equal(r, d.Rank);
        var back = d.Reconstruct(r);
        double scale = Math.Max(1, a.Max(Math.Abs));
        for (int i = 0; i < a.Length; i++) Assert.True(Math.Abs(back[i] - a[i]) <= tol * scale, $"A[{i}]: {a[i]} vs {back[i]}");
        for (int p = 0; p < r; p++)
            for (int q = 0; q < r; q++)
            {
                double uu = 0, vv = 0;
                for (int i = 0; i < rows; i++) uu += d.U[i * r + p] * d.U[i * r + q];
                for (int j = 0; j < cols; j++) vv += d.Vt[p * cols + j] * d.Vt[q * cols + j];
                double id = p == q ? 1 : 0;
                Assert.True(Math.Abs(uu - id) <= 1e-12, $"UᵀU[{p},{q}] = {uu}");
                Assert.True(Math.Abs(vv - id) <= 1e-12, $"VᵀV[{p},{q}] = {vv}");
            }
        for (int j = 1; j < r; j++) Assert.True(d.S[j - 1] >= d.S[j], "singular values descend");
        Assert.All(d.S, s => Assert.True(s >= 0));
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(1, 5)]
    [InlineData(5, 1)]
    [InlineData(8, 3)]
    [InlineData(3, 8)]
    [InlineData(16, 16)]
    [InlineData(40, 25)]
    public void Reconstructs_with_orthonormal_factors(int rows, int cols) =>
        AssertDecomposition(Random(rows, cols, rows * 100 + cols), rows, cols);

    [Fact]
    public void Rank_deficient_and_zero_matrices_get_completed_orthonormal_factors()
    {
        // rank 2 (outer products), an all-zero matrix and a matrix with a zero column
        var a = new double[6 * 4];
        for (int i = 0; i < 6; i++)
            for (int j = 0; j < 4; j++) a[i * 4 + j] = (i + 1) * (j - 1.5) + (i % 2) * (j == 2 ? 3 : 0);
        AssertDecomposition(a, 6, 4);
        AssertDecomposition(new double[12], 3, 4);
        var z = Random(5, 3, 1);
        for (int i = 0; i < 5; i++) z[i * 3 + 1] = 0;
        AssertDecomposition(z, 5, 3);
        Assert.Equal(0, Svd.Decompose(new double[12], 4, 3).S.Max());
    }

    /// <summary>
    /// 2-bit task vectors: levels {−s, 0, s}, mostly zero, with repeated and all-zero columns, so the matrix is exactly
    /// rank deficient; the columns of zero σ carry only rounding noise and must not keep the sweeps going.
    /// </summary>
    [Theory]
    [InlineData(96, 48, 1)]
    [InlineData(48, 96, 2)]
    [InlineData(192, 96, 3)]
    [InlineData(144, 48, 4)]
    public void Sparse_few_level_rank_deficient_matrices_converge(int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        var a = new double[rows * cols];
        const double step = 0.0123;
        for (int i = 0; i < a.Length; i++)
        {
            double u = rng.NextDouble();
            a[i] = u < 0.05 ? -step : u > 0.95 ? step : 0;
        }
        for (int i = 0; i < rows; i++)
        {
            a[i * cols + 1] = a[i * cols];                          // a repeated column
            a[i * cols + 3] = a[i * cols] - a[i * cols + 2];        // a combination of two others
            a[i * cols + cols - 1] = 0;                             // a zero column
        }
        for (int j = 0; j < cols; j++) a[(rows - 1) * cols + j] = a[j]; // a repeated row
        AssertDecomposition(a, rows, cols);
    }

    /// <summary>
    /// Real 2-bit task vectors of the quick zoo whose exact rank is below min(m, n): their null-space columns end as
    /// rounding noise (σ down to 1e-51), which a relative orthogonality test can never satisfy. These stalled the first
    /// version for 80 sweeps; negligible columns must be left alone (and completed) instead.
    /// </summary>
    [Fact]
    public void Rank_deficient_two_bit_task_vectors_of_the_zoo_converge()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(AppContext.BaseDirectory, "fixtures", "svd_tvq2_rank_deficient.json")));
        int count = 0;
        foreach (var m in doc.RootElement.GetProperty("matrices").EnumerateArray())
        {
            int rows = m.GetProperty("rows").GetInt32(), cols = m.GetProperty("cols").GetInt32();
            var a = new double[rows * cols];
            var index = m.GetProperty("index").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var value = m.GetProperty("value").EnumerateArray().Select(e => (double)(float)e.GetDouble()).ToArray();
            for (int i = 0; i < index.Length; i++) a[index[i]] = value[i];
            AssertDecomposition(a, rows, cols);
            AssertDecomposition(Transpose(a, rows, cols), cols, rows);
            count++;
        }
        Assert.Equal(3, count);
    }

    private static double[] Transpose(double[] a, int rows, int cols)
    {
        var t = new double[a.Length];
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
        return t;
    }

    [Fact]
    public void Hand_checkable_cases()
    {
        // diag(3, −2) → S = (3, 2); [[3, 4]] → S = 5, U = ±1, V = ±(0.6, 0.8)
        Assert.Equal([3.0, 2.0], Svd.Decompose([3.0, 0, 0, -2], 2, 2).S.Select(s => Math.Round(s, 12)));
        var row = Svd.Decompose([3.0, 4.0], 1, 2);
        Assert.Equal(5, row.S[0], 12);
        Assert.Equal(0.6, Math.Abs(row.Vt[0]), 12);
        Assert.Equal(0.8, Math.Abs(row.Vt[1]), 12);
        Assert.Equal(1, Math.Abs(row.U[0]), 12);
    }

    [Fact]
    public void Singular_values_match_torch()
    {
        foreach (var c in _fx.Root.GetProperty("svd").EnumerateArray())
        {
            int rows = c.GetProperty("rows").GetInt32(), cols = c.GetProperty("cols").GetInt32();
            var a = TsvReferenceFixture.Floats(c.GetProperty("a"));
            var expected = TsvReferenceFixture.Doubles(c.GetProperty("s"));
            var d = Svd.Decompose(a, rows, cols);
            Assert.Equal(expected.Length, d.S.Length);
            for (int j = 0; j < expected.Length; j++)
                Assert.True(Math.Abs(expected[j] - d.S[j]) <= 1e-10 * Math.Max(1, expected[0]), $"{c.GetProperty("name")}: s[{j}] {d.S[j]} vs torch {expected[j]}");
        }
    }

    [Fact]
    public void Polar_factor_has_orthonormal_columns_and_is_the_nearest()
    {
        var a = Random(7, 3, 5);
        var p = Svd.PolarFactor(a, 7, 3);
        for (int x = 0; x < 3; x++)
            for (int y = 0; y < 3; y++)
            {
                double dot = 0;
                for (int i = 0; i < 7; i++) dot += p[i * 3 + x] * p[i * 3 + y];
                Assert.Equal(x == y ? 1 : 0, dot, 12);
            }
        // Pᵀ·A = (AᵀA)^½ is symmetric positive definite
        var h = new double[9];
        for (int x = 0; x < 3; x++)
            for (int y = 0; y < 3; y++)
                for (int i = 0; i < 7; i++) h[x * 3 + y] += p[i * 3 + x] * a[i * 3 + y];
        for (int x = 0; x < 3; x++)
        {
            Assert.True(h[x * 3 + x] > 0);
            for (int y = 0; y < 3; y++) Assert.Equal(h[x * 3 + y], h[y * 3 + x], 12);
        }
        // an orthonormal matrix is its own polar factor
        var q = Svd.Decompose(Random(6, 6, 9), 6, 6).U;
        var pq = Svd.PolarFactor(q, 6, 6);
        for (int i = 0; i < q.Length; i++) Assert.Equal(q[i], pq[i], 12);
    }

    [Fact]
    public void Refuses_bad_input()
    {
        Assert.Throws<ArgumentException>(() => Svd.Decompose(new double[5], 2, 3));
        Assert.Throws<ArgumentException>(() => Svd.Decompose([1.0, double.NaN], 1, 2));
    }
}
