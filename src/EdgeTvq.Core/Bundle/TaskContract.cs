using System.Text.Json;

namespace EdgeTvq.Bundle;

/// <summary>What a task's head outputs, from the metadata's <c>kind</c> (docs/runtime.md, "The model contract").</summary>
public enum TaskKind
{
    /// <summary>Logits [n, C]: softmax top-k with labels.</summary>
    Classification,
    /// <summary>Logits [n, C, h, w]: upsampled to the image, argmax per pixel.</summary>
    Segmentation,
    /// <summary>[n, 1, h, w]: one value per pixel, upsampled to the image.</summary>
    Depth,
    /// <summary>[n, 3, h, w]: upsampled to the image, then L2-normalised per pixel.</summary>
    Normals,
    /// <summary>Any output, returned as it is.</summary>
    Tensor,
}

public static class TaskKinds
{
    public const string Names = "classification, segmentation, depth, normals, tensor";

    public static bool TryParse(string text, out TaskKind kind)
    {
        switch (text)
        {
            case "classification": kind = TaskKind.Classification; return true;
            case "segmentation": kind = TaskKind.Segmentation; return true;
            case "depth": kind = TaskKind.Depth; return true;
            case "normals": kind = TaskKind.Normals; return true;
            case "tensor": kind = TaskKind.Tensor; return true;
            default: kind = default; return false;
        }
    }

    /// <summary>The kind a task's metadata names; absent means classification (bundles made before kinds existed).</summary>
    public static TaskKind Of(TaskMetadata meta, string file) =>
        meta.Kind is null ? TaskKind.Classification
        : TryParse(meta.Kind, out var k) ? k
        : throw new InvalidDataException($"{file}: task '{meta.Task}' has kind '{meta.Kind}', which this build does not know ({Names}); use a newer edgetvq");

    public static string Name(TaskKind kind) => kind.ToString().ToLowerInvariant();
}

/// <summary>The colour layout the encoder expects.</summary>
public enum ChannelOrder { Gray, Rgb, Bgr }

/// <summary>Whether pixels are inverted (255 − p) before scaling: the MNIST convention of light ink on a dark ground.</summary>
public enum InvertMode { Off, On, Auto }

/// <summary>
/// A task's preprocessing, parsed from the metadata's <c>preprocessing</c> object; the one reading of those keys
/// (docs/runtime.md, "Preprocessing"), used by the packer to refuse a bad one and by the runtime to apply it.
/// In order: decode → <see cref="Channels"/> → <see cref="Invert"/> → resize → center crop → x = p·scale → (x − mean)/std.
/// </summary>
public sealed record PreprocessingSpec
{
    public ChannelOrder Channels { get; init; } = ChannelOrder.Gray;
    /// <summary>Resize so the shorter side is this many pixels (torchvision <c>Resize(int)</c>); null: see <see cref="ResizeTo"/>.</summary>
    public int? ResizeShorter { get; init; }
    /// <summary>Resize to exactly [H, W]; null with <see cref="ResizeShorter"/> null keeps the image's size.</summary>
    public (int H, int W)? ResizeTo { get; init; }
    /// <summary>Center crop to [H, W] after the resize; null: none.</summary>
    public (int H, int W)? Crop { get; init; }
    public float Scale { get; init; } = 1f / 255f;
    /// <summary>One value per channel (a single value applies to every channel).</summary>
    public float[] Mean { get; init; } = [0f];
    public float[] Std { get; init; } = [1f];
    public InvertMode Invert { get; init; } = InvertMode.Off;

    /// <summary>The zoo's original contract: 28×28 gray, background 0 (inverted when light), x = p/255.</summary>
    public static PreprocessingSpec Legacy { get; } = new() { ResizeTo = (28, 28), Invert = InvertMode.Auto };

    /// <summary>Channels the model input has: 1 for gray, 3 otherwise.</summary>
    public int ChannelCount => Channels == ChannelOrder.Gray ? 1 : 3;

    /// <summary>The model input's [H, W] when every image gets the same one (a crop, or an exact resize); null when it follows the image.</summary>
    public (int H, int W)? FixedSize => Crop ?? ResizeTo;

    /// <summary>
    /// Parses a <c>preprocessing</c> value: null or absent gives <see cref="Legacy"/>. Keys this build does not know
    /// are ignored (free-form notes such as "formula"); a known key with a bad value is a <see cref="FormatException"/>
    /// naming it. The older keys still read: <c>shape</c> [n, C, H, W] (an exact resize to H×W with C channels) and
    /// a plain-number <c>mean</c>/<c>std</c>; without <c>channels</c> the image is inverted when light, as before.
    /// </summary>
    public static PreprocessingSpec Parse(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } e)
        {
            if (element is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } other)
                throw new FormatException($"\"preprocessing\" must be a JSON object, not {other.ValueKind}");
            return Legacy;
        }
        var spec = Legacy with { ResizeTo = null };
        bool hasChannels = false;
        int? shapeChannels = null;
        if (e.TryGetProperty("shape", out var shape) && shape.ValueKind != JsonValueKind.Null)
        {
            if (shape.ValueKind != JsonValueKind.Array || shape.GetArrayLength() != 4 || !IsInt(shape[1]) || !IsInt(shape[2]) || !IsInt(shape[3]))
                throw new FormatException("preprocessing \"shape\" must be [n, C, H, W] with numbers for C, H and W");
            shapeChannels = shape[1].GetInt32();
            spec = spec with { ResizeTo = (Positive(shape[2], "shape"), Positive(shape[3], "shape")) };
        }
        if (e.TryGetProperty("channels", out var ch))
        {
            hasChannels = true;
            spec = spec with
            {
                // ValueEquals compares the UTF-8 bytes: a string that is not valid UTF-8 is refused here, not thrown on.
                Channels = ch.ValueKind != JsonValueKind.String ? throw new FormatException("preprocessing \"channels\" must be a string: gray, rgb or bgr")
                    : ch.ValueEquals("gray") || ch.ValueEquals("grey") ? ChannelOrder.Gray
                    : ch.ValueEquals("rgb") ? ChannelOrder.Rgb
                    : ch.ValueEquals("bgr") ? ChannelOrder.Bgr
                    : throw new FormatException($"preprocessing \"channels\" is {Quote(ch)}; use gray, rgb or bgr"),
            };
        }
        else if (shapeChannels is { } c)
            spec = spec with { Channels = c == 1 ? ChannelOrder.Gray : c == 3 ? ChannelOrder.Rgb : throw new FormatException($"preprocessing \"shape\" has {c} channels; 1 or 3 are supported") };
        if (shapeChannels is { } sc && sc != spec.ChannelCount)
            throw new FormatException($"preprocessing \"shape\" has {sc} channels but \"channels\" is {spec.Channels.ToString().ToLowerInvariant()}");
        if (e.TryGetProperty("resize", out var resize) && resize.ValueKind != JsonValueKind.Null)
            spec = resize.ValueKind == JsonValueKind.Array
                ? spec with { ResizeTo = Pair(resize, "resize"), ResizeShorter = null }
                : spec with { ResizeShorter = Positive(resize, "resize"), ResizeTo = null };
        if (e.TryGetProperty("crop", out var crop) && crop.ValueKind != JsonValueKind.Null)
            spec = spec with { Crop = crop.ValueKind == JsonValueKind.Array ? Pair(crop, "crop") : (Positive(crop, "crop"), Positive(crop, "crop")) };
        if (e.TryGetProperty("scale", out var scale))
        {
            float s = Number(scale, "scale");
            if (!(s > 0) || s > Limit) throw new FormatException($"preprocessing \"scale\" is {s}; it must be in (0, {Limit}]");
            spec = spec with { Scale = s };
        }
        if (e.TryGetProperty("mean", out var mean))
        {
            var values = PerChannel(mean, "mean", spec.ChannelCount);
            if (values.Any(v => Math.Abs(v) > Limit)) throw new FormatException($"preprocessing \"mean\" values must lie in [-{Limit}, {Limit}]");
            spec = spec with { Mean = values };
        }
        if (e.TryGetProperty("std", out var std))
        {
            var values = PerChannel(std, "std", spec.ChannelCount);
            if (values.Any(v => !(v >= 1f / Limit) || v > Limit)) throw new FormatException($"preprocessing \"std\" values must lie in [{1f / Limit}, {Limit}]");
            spec = spec with { Std = values };
        }
        if (e.TryGetProperty("invert", out var invert))
            spec = spec with
            {
                Invert = invert.ValueKind switch
                {
                    JsonValueKind.True => InvertMode.On,
                    JsonValueKind.False => InvertMode.Off,
                    JsonValueKind.String when invert.ValueEquals("auto") => InvertMode.Auto,
                    _ => throw new FormatException("preprocessing \"invert\" must be true, false or \"auto\""),
                },
            };
        else if (hasChannels)
            spec = spec with { Invert = InvertMode.Off };
        if (spec.ResizeTo is null && spec.ResizeShorter is null && !hasChannels && shapeChannels is null)
            spec = spec with { ResizeTo = (28, 28) }; // the zoo's original 28×28 when nothing says otherwise
        return spec;
    }

    /// <summary>The largest |mean|, std and scale (and 1/Limit the smallest std): inputs stay finite for any pixel.</summary>
    public const float Limit = 1e4f;

    /// <summary>Mean or std for channel <paramref name="c"/>.</summary>
    public static float At(float[] values, int c) => values.Length == 1 ? values[0] : values[c];

    /// <summary>A JSON value as text for a message, at most 40 characters; a string that is not valid UTF-8 says so.</summary>
    private static string Quote(JsonElement v)
    {
        string raw;
        try { raw = v.GetRawText(); }
        catch (InvalidOperationException) { return "a string that is not valid UTF-8"; }
        return raw.Length <= 40 ? raw : raw[..40] + "…";
    }

    private static bool IsInt(JsonElement v) => v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out _);

    private static int Positive(JsonElement v, string key)
    {
        if (!IsInt(v) || v.GetInt32() is <= 0 or > 1 << 16)
            throw new FormatException($"preprocessing \"{key}\" must hold whole numbers from 1 to 65536");
        return v.GetInt32();
    }

    private static (int, int) Pair(JsonElement v, string key)
    {
        if (v.GetArrayLength() != 2) throw new FormatException($"preprocessing \"{key}\" must be a number or [H, W]");
        return (Positive(v[0], key), Positive(v[1], key));
    }

    private static float Number(JsonElement v, string key)
    {
        if (v.ValueKind != JsonValueKind.Number || !float.IsFinite(v.GetSingle()))
            throw new FormatException($"preprocessing \"{key}\" must be a finite number");
        return v.GetSingle();
    }

    private static float[] PerChannel(JsonElement v, string key, int channels)
    {
        if (v.ValueKind == JsonValueKind.Number) return [Number(v, key)];
        if (v.ValueKind != JsonValueKind.Array || (v.GetArrayLength() != 1 && v.GetArrayLength() != channels))
            throw new FormatException($"preprocessing \"{key}\" must be a number or an array of 1 or {channels} numbers (one per channel)");
        return v.EnumerateArray().Select(x => Number(x, key)).ToArray();
    }
}
