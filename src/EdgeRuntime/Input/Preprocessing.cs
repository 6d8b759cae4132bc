using System.Text.Json;

namespace EdgeTvq.Runtime.Input;

/// <summary>
/// How raw pixels become the model's input, from the task metadata's "preprocessing" object:
/// <c>x = (pixel/255 − mean)/std</c> on a single-channel square image of <see cref="Size"/> pixels, where pixel 0 is
/// background and 255 is ink (MNIST convention).
/// </summary>
public sealed record Preprocessing(int Size, float Mean, float Std)
{
    public static Preprocessing Default { get; } = new(28, 0f, 1f);

    public static Preprocessing From(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } e) return Default;
        float mean = e.TryGetProperty("mean", out var m) && m.ValueKind == JsonValueKind.Number ? m.GetSingle() : 0f;
        float std = e.TryGetProperty("std", out var s) && s.ValueKind == JsonValueKind.Number ? s.GetSingle() : 1f;
        int size = 28;
        if (e.TryGetProperty("shape", out var shape) && shape.ValueKind == JsonValueKind.Array && shape.GetArrayLength() == 4
            && shape[3].ValueKind == JsonValueKind.Number)
            size = shape[3].GetInt32();
        if (std <= 0 || !float.IsFinite(std) || !float.IsFinite(mean) || size <= 0)
            throw new InvalidDataException($"task metadata preprocessing is invalid (size {size}, mean {mean}, std {std})");
        return new Preprocessing(size, mean, std);
    }

    /// <summary>Normalizes one image of Size×Size bytes (0 = background) into <paramref name="dst"/>.</summary>
    public void Apply(ReadOnlySpan<byte> pixels, Span<float> dst)
    {
        for (int i = 0; i < pixels.Length; i++) dst[i] = (pixels[i] / 255f - Mean) / Std;
    }
}
