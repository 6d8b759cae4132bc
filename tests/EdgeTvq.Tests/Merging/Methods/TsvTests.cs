using EdgeTvq.Merging.Methods;
using EdgeTvq.Tests.Merging.Linear;

namespace EdgeTvq.Tests.Merging.Methods;

public class TsvTests : IClassFixture<TsvReferenceFixture>
{
    private readonly TsvReferenceFixture _fx;
    public TsvTests(TsvReferenceFixture fx) => _fx = fx;

    private static TaskTensor Matrix(string name, int rows, int cols, params float[][] tau) => new(name, [rows, cols], tau);

    [Fact]
    public void One_rank_one_task_merges_and_compresses_to_itself()
    {
        // τ = u·vᵀ with u = (1, 2, 2)/3·3 = (1, 2, 2), v = (3, 4)/5·5 → rank 1, T = 1 → k = 2 keeps everything
        float[] tau = [3, 4, 6, 8, 6, 8];
        var t = Matrix("w", 3, 2, tau);
        Approx.Equal(tau, Tsv.MergeTensor(t), 1e-5f);
        Approx.Equal(tau, Tsv.CompressTensor(t, 0), 1e-5f);
        Approx.Equal([1.5f, 2, 3, 4, 3, 4], Tsv.MergeTensor(t, alpha: 0.5f), 1e-5f);
    }

    [Fact]
    public void Orthogonal_task_vectors_merge_to_their_sum()
    {
        // τ_1 = 2·e1·e1ᵀ, τ_2 = 3·e2·e2ᵀ in 2×2: k = 1 each; singular vectors already orthogonal → τ_M = τ_1 + τ_2
        var t = Matrix("w", 2, 2, [2, 0, 0, 0], [0, 0, 0, 3]);
        Approx.Equal([2, 0, 0, 3], Tsv.MergeTensor(t), 1e-6f);
        // TSV-C keeps the top component of each
        Approx.Equal([2, 0, 0, 0], Tsv.CompressTensor(t, 0), 1e-6f);
        Approx.Equal([0, 0, 0, 3], Tsv.CompressTensor(t, 1), 1e-6f);
    }

    [Fact]
    public void Interfering_directions_are_orthogonalised()
    {
        // τ_1 = e1·e1ᵀ, τ_2 = (e1+e2)/√2·e2ᵀ: left singular vectors at 45°. The polar factor of [e1, (e1+e2)/√2] has
        // orthonormal columns, so τ_M has singular values exactly (1, 1) (plain sum would have had 1.85 and 0.77).
        float h = MathF.Sqrt(0.5f);
        var t = Matrix("w", 2, 2, [1, 0, 0, 0], [0, h, 0, h]);
        var m = Tsv.MergeTensor(t);
        var s = EdgeTvq.Merging.Linear.Svd.Decompose(m, 2, 2).S;
        Assert.Equal(1, s[0], 5);
        Assert.Equal(1, s[1], 5);
    }

    [Fact]
    public void Non_matrix_tensors_are_averaged_or_kept()
    {
        var t = new TaskTensor("norm.weight", [3], [[1, 2, 3], [3, 2, 1]]);
        Approx.Equal([2, 2, 2], Tsv.MergeTensor(t));
        Approx.Equal([1, 1, 1], Tsv.MergeTensor(t, 0.5f));
        Approx.Equal([3, 2, 1], Tsv.CompressTensor(t, 1));
        // fewer singular values than tasks: k = 0 → zero, as in the reference
        var narrow = Matrix("w", 1, 3, [1, 2, 3], [4, 5, 6]);
        Approx.Equal([0, 0, 0], Tsv.MergeTensor(narrow));
        Approx.Equal([0, 0, 0], Tsv.CompressTensor(narrow, 0));
    }

    [Fact]
    public void Matches_the_reference_code_on_fixed_tensors()
    {
        var root = _fx.Root;
        int tasks = root.GetProperty("tasks").GetInt32();
        var table = new List<TaskTensor>();
        var merge = new List<float[]>();
        var compress = new List<float[][]>();
        foreach (var e in root.GetProperty("tensors").EnumerateArray())
        {
            table.Add(new TaskTensor(e.GetProperty("name").GetString()!, e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()).ToArray(),
                e.GetProperty("tau").EnumerateArray().Select(TsvReferenceFixture.Floats).ToArray()));
            merge.Add(TsvReferenceFixture.Floats(e.GetProperty("merge")));
            compress.Add(e.GetProperty("compress").EnumerateArray().Select(TsvReferenceFixture.Floats).ToArray());
        }
        Assert.Equal(tasks, table[0].Tasks);
        var merged = Tsv.Merge(table);
        for (int n = 0; n < table.Count; n++) Approx.Equal(merge[n], merged[n], 2e-5f, $"TSV-M {table[n].Name}");
        for (int task = 0; task < tasks; task++)
        {
            var c = Tsv.Compress(table, task);
            for (int n = 0; n < table.Count; n++) Approx.Equal(compress[n][task], c[n], 2e-5f, $"TSV-C task {task} {table[n].Name}");
        }
    }

    [Fact]
    public void Refuses_bad_tables()
    {
        var t = Matrix("w", 2, 2, [1, 0, 0, 0], [0, 0, 0, 1]);
        Assert.Throws<ArgumentOutOfRangeException>(() => Tsv.CompressTensor(t, 2));
        Assert.Throws<ArgumentException>(() => Tsv.MergeTensor(new TaskTensor("w", [2, 2], [[1, 2, 3]])));
    }
}
