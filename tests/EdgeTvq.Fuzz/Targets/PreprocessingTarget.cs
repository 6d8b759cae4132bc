using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Mutation;
using EdgeTvq.Runtime.Input;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>
/// A task's "preprocessing" object (PreprocessingSpec.Parse), then Preprocessor.Apply on a small RGB and a small gray
/// image. Errors are FormatException (bad keys, the packer's refusal) or InvalidDataException (a spec the image or
/// encoder cannot meet) by contract; an accepted spec must give an input of the size it promises, all values finite.
/// </summary>
public sealed class PreprocessingTarget : IFuzzTarget
{
    public string Name => "preprocessing";
    public IReadOnlySet<Type> Expected { get; } = new HashSet<Type> { typeof(FormatException), typeof(InvalidDataException) };

    public IReadOnlyList<byte[]> Seeds(string scratch)
    {
        string[] specs =
        [
            """{"channels": "rgb", "resize": 72, "crop": [64, 64], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}""",
            """{"channels": "bgr", "resize": [40, 30], "scale": 1, "mean": [104, 117, 123], "std": 1}""",
            """{"channels": "gray", "resize": 20, "invert": "auto", "mean": 0.1307, "std": [0.3081]}""",
            """{"input": "image", "shape": [null, 1, 28, 28], "mean": 0.5, "std": 0.5}""",
            """{"channels": "rgb", "crop": 90, "invert": true}""",
        ];
        return specs.Select(s => System.Text.Encoding.UTF8.GetBytes(s)).ToList();
    }

    public byte[] Mutate(byte[] input, Random rng) => rng.Next(10) < 8 ? Json.Mutate(input, rng) : Bytes.Mutate(input, rng);

    public void Run(byte[] input, string scratch)
    {
        // The metadata file's JSON is parsed (and refused with its own message) before its preprocessing is read.
        JsonDocument doc;
        try { doc = JsonDocument.Parse(input); }
        catch (JsonException) { return; }
        using var _ = doc;
        var spec = PreprocessingSpec.Parse(doc.RootElement);
        // Sizes above a few thousand pixels are legal but would only make the fuzzer slow.
        if ((spec.ResizeShorter ?? 0) > 512 || spec.ResizeTo is { } r && (r.H > 512 || r.W > 512) || spec.Crop is { } c && (c.H > 512 || c.W > 512)) return;
        var rng = new Random(input.Length);
        var rgb = new byte[37 * 23 * 3];
        rng.NextBytes(rgb);
        foreach (var image in new[] { new InputImage("rgb", 37, 23, 3, rgb, null), InputImage.Gray("gray", 37, 23, rgb[..(37 * 23)]) })
        {
            var x = Preprocessor.Apply(spec, image);
            if (x.Data.Length != (long)x.Channels * x.Height * x.Width || x.Channels != spec.ChannelCount)
                throw new FuzzInvariantException($"prepared {x.Data.Length} values for [{x.Channels}, {x.Height}, {x.Width}], spec channels {spec.ChannelCount}");
            if (spec.FixedSize is { } size && (x.Height, x.Width) != size)
                throw new FuzzInvariantException($"prepared {x.Height}×{x.Width}, the spec promises {size.H}×{size.W}");
            foreach (float v in x.Data)
                if (!float.IsFinite(v)) throw new FuzzInvariantException($"a prepared value is {v}");
        }
    }
}
