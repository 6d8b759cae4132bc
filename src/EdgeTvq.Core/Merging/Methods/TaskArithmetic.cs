using System.Numerics.Tensors;

namespace EdgeTvq.Merging.Methods;

/// <summary>Task arithmetic (Ilharco et al. 2023): Δ = λ Σ_t τ_t, λ = 0.3.</summary>
public static class TaskArithmetic
{
    public const float DefaultLambda = 0.3f;

    /// <summary>Δ = λ Σ_t τ_t per tensor.</summary>
    public static float[][] Merge(IReadOnlyList<TaskTensor> table, float lambda = DefaultLambda)
    {
        Table.Validate(table);
        var delta = new float[table.Count][];
        for (int n = 0; n < table.Count; n++)
        {
            delta[n] = Table.Sum(table[n]);
            TensorPrimitives.Multiply(delta[n], lambda, delta[n]);
        }
        return delta;
    }
}
