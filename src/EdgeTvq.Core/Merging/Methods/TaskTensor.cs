namespace EdgeTvq.Merging.Methods;

/// <summary>
/// One tensor of a task-vector table: its state-dict name, its shape and one task vector τ_t per task
/// (row-major, all of length Π shape). A method takes a list of these (the "tensor table") and returns the merged
/// delta Δ per tensor, in the same order (θ = θ_pre + Δ).
/// </summary>
public sealed record TaskTensor(string Name, long[] Shape, float[][] Tau)
{
    /// <summary>A 1-D tensor of the given task vectors (shape [length]).</summary>
    public static TaskTensor Of(string name, params float[][] tau) => new(name, [tau.Length == 0 ? 0 : tau[0].Length], tau);

    public int Tasks => Tau.Length;
    public int Length => Tau.Length == 0 ? 0 : Tau[0].Length;
}

internal static class Table
{
    /// <summary>Checks that every tensor has the same (≥ 1) number of tasks and task vectors of length Π shape.</summary>
    public static int Validate(IReadOnlyList<TaskTensor> table)
    {
        ArgumentNullException.ThrowIfNull(table);
        if (table.Count == 0) return 0;
        int tasks = table[0].Tasks;
        if (tasks == 0) throw new ArgumentException("a tensor table needs at least one task");
        foreach (var t in table)
        {
            if (t.Tasks != tasks) throw new ArgumentException($"tensor '{t.Name}' has {t.Tasks} tasks, expected {tasks}");
            long count = 1;
            foreach (long s in t.Shape) count = checked(count * s);
            foreach (var tau in t.Tau)
                if (tau.Length != count) throw new ArgumentException($"tensor '{t.Name}': task vector of length {tau.Length}, shape holds {count}");
        }
        return tasks;
    }

    /// <summary>Σ_t τ_t of one tensor.</summary>
    public static float[] Sum(TaskTensor t)
    {
        var sum = new float[t.Length];
        foreach (var tau in t.Tau) System.Numerics.Tensors.TensorPrimitives.Add(sum, tau, sum);
        return sum;
    }

    /// <summary>Indices of the tensors sorted by name (ordinal), the flattening order of the reference code.</summary>
    public static int[] SortedByName(IReadOnlyList<TaskTensor> table)
    {
        var order = new int[table.Count];
        for (int i = 0; i < order.Length; i++) order[i] = i;
        Array.Sort(order, (a, b) => string.CompareOrdinal(table[a].Name, table[b].Name));
        return order;
    }
}
