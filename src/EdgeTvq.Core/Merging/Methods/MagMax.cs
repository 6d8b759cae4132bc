namespace EdgeTvq.Merging.Methods;

/// <summary>
/// MagMax (Marczak et al. 2024): per entry keep the task vector of largest magnitude, folding over tasks in order,
/// sel ← where(|τ_t| ≥ |sel|, τ_t, sel) (so the later task wins ties), and Δ = λ·sel with λ = 0.5.
/// </summary>
public static class MagMax
{
    public const float DefaultLambda = 0.5f;

    public static float[][] Merge(IReadOnlyList<TaskTensor> table, float lambda = DefaultLambda)
    {
        Table.Validate(table);
        var delta = new float[table.Count][];
        for (int n = 0; n < table.Count; n++)
        {
            var sel = new float[table[n].Length];
            foreach (var tau in table[n].Tau)
                for (int i = 0; i < sel.Length; i++)
                    if (MathF.Abs(tau[i]) >= MathF.Abs(sel[i])) sel[i] = tau[i];
            for (int i = 0; i < sel.Length; i++) sel[i] *= lambda;
            delta[n] = sel;
        }
        return delta;
    }
}
