namespace EdgeTvq.Bundle;

/// <summary>How a tensor is stored in every task file.</summary>
public enum TensorStorage
{
    /// <summary>Quantized (FQ/TVQ codes or RTVQ base + offset).</summary>
    Quantized,
    /// <summary>Task vector kept exactly as float32.</summary>
    Full,
    /// <summary>Not floating point (e.g. an integer step counter): not part of task vectors, not stored.</summary>
    Skipped,
}

/// <summary>
/// Decides which tensors are quantized.
/// <list type="bullet">
/// <item><c>default</c>: floating tensors of rank ≥ 2 are quantized, except norms and embeddings (any dotted name
/// segment containing "norm", starting with "ln", or equal to an embedding name such as pos_embed, cls_token,
/// class_embedding, positional_embedding, token_embedding, embeddings, embed_tokens, wte, wpe). Biases, norm
/// weights and other 1-D tensors stay float32.</item>
/// <item><c>authors</c>: the paper's released code: names containing "weight", except "ln_" and "token_embedding".</item>
/// <item><c>all</c>: every floating tensor is quantized.</item>
/// <item><c>none</c>: no tensor is quantized; every task vector is stored exactly as float32 (the FP32 baseline of
/// the paper's tables, through the same bundle and merge path as the quantized schemes).</item>
/// </list>
/// </summary>
public sealed class TensorPolicy
{
    public static readonly string[] Names = ["default", "authors", "all", "none"];

    private static readonly HashSet<string> EmbeddingSegments = new(StringComparer.OrdinalIgnoreCase)
    {
        "pos_embed", "cls_token", "class_embedding", "positional_embedding", "token_embedding",
        "embeddings", "embed_tokens", "wte", "wpe", "position_embeddings", "word_embeddings",
    };

    public string Name { get; }

    private TensorPolicy(string name) => Name = name;

    public static TensorPolicy Parse(string name) => name switch
    {
        "default" or "authors" or "all" or "none" => new TensorPolicy(name),
        _ => throw new ArgumentException($"unknown tensor policy '{name}'; use one of: {string.Join(", ", Names)}"),
    };

    public static TensorPolicy Default { get; } = new("default");

    public TensorStorage Decide(string name, IReadOnlyList<long> shape, bool isFloating)
    {
        if (!isFloating) return TensorStorage.Skipped;
        return Name switch
        {
            "all" => TensorStorage.Quantized,
            "none" => TensorStorage.Full,
            "authors" => name.Contains("weight", StringComparison.Ordinal) && !name.Contains("ln_", StringComparison.Ordinal)
                         && !name.Contains("token_embedding", StringComparison.Ordinal)
                ? TensorStorage.Quantized : TensorStorage.Full,
            _ => shape.Count >= 2 && !IsNormOrEmbedding(name) ? TensorStorage.Quantized : TensorStorage.Full,
        };
    }

    private static bool IsNormOrEmbedding(string name)
    {
        foreach (var segment in name.Split('.'))
        {
            if (segment.Contains("norm", StringComparison.OrdinalIgnoreCase)) return true;
            if (segment.StartsWith("ln", StringComparison.OrdinalIgnoreCase)) return true;
            if (EmbeddingSegments.Contains(segment)) return true;
        }
        return false;
    }

    public static string ToText(TensorStorage s) => s switch
    {
        TensorStorage.Quantized => "quantized",
        TensorStorage.Full => "full",
        _ => "skipped",
    };

    public static TensorStorage FromText(string s) => s switch
    {
        "quantized" => TensorStorage.Quantized,
        "full" => TensorStorage.Full,
        "skipped" => TensorStorage.Skipped,
        _ => throw new FormatException($"unknown tensor storage '{s}'"),
    };
}
