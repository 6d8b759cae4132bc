using EdgeTvq.Bundle;

namespace EdgeTvq.Runtime.Input;

/// <summary>
/// One image brought to the model's input: <see cref="Data"/> is [C, H, W] float32 (row-major), and the size of the
/// image it came from, which dense outputs are mapped back to (<see cref="OutputHeight"/>, <see cref="OutputWidth"/>).
/// </summary>
public sealed record PreparedImage(float[] Data, int Channels, int Height, int Width, int OutputHeight, int OutputWidth);

/// <summary>
/// Applies a task's <see cref="PreprocessingSpec"/> to a decoded image, in the order docs/runtime.md gives:
/// channels → invert → resize → center crop → x = p·scale → (x − mean)/std. Resizing, cropping and the RGB→gray
/// conversion are Pillow's, bit for bit (<see cref="PilResize"/>), and the arithmetic is torchvision's ToTensor and
/// Normalize in float32, so an image gives the same input here as in a torchvision (PIL) training pipeline.
/// </summary>
public static class Preprocessor
{
    /// <summary>
    /// The model input for <paramref name="image"/>. <paramref name="encoderChannels"/> is the channel count the
    /// encoder's input declares (null when dynamic): a gray task on a 3-channel encoder gets its gray plane three
    /// times; an RGB task on a 1-channel encoder is refused.
    /// </summary>
    public static PreparedImage Apply(PreprocessingSpec spec, InputImage image, int? encoderChannels = null)
    {
        int c = spec.ChannelCount;
        if (encoderChannels is 1 && c == 3)
            throw new InvalidDataException($"{image.Source}: the task's preprocessing gives {spec.Channels.ToString().ToLowerInvariant()} input but the encoder takes 1 channel; set \"channels\": \"gray\" in the task metadata");
        if (encoderChannels is { } ec && ec != 1 && ec != 3)
            throw new InvalidDataException($"the encoder's input has {ec} channels; images can feed 1 or 3");
        byte[] pixels = (c, image.Channels) switch
        {
            (1, 3) => PilResize.ToGray(image.Pixels),
            (3, 1) => PilResize.GrayToRgb(image.Pixels),
            (1, 1) or (3, 3) => image.Pixels,
            _ => throw new InvalidDataException($"{image.Source}: {image.Channels}-channel pixels; 1 (gray) or 3 (RGB) are supported"),
        };
        if (spec.Invert == InvertMode.On || (spec.Invert == InvertMode.Auto && MeanAbove127(pixels)))
        {
            var inverted = new byte[pixels.Length];
            for (int i = 0; i < pixels.Length; i++) inverted[i] = (byte)(255 - pixels[i]);
            pixels = inverted;
        }
        int w = image.Width, h = image.Height;
        (int W, int H)? target = spec.ResizeTo is { } exact ? (exact.W, exact.H)
            : spec.ResizeShorter is { } shorter ? PilResize.ShorterSide(w, h, shorter) : null;
        if (target is { } t && (t.W != w || t.H != h))
        {
            pixels = PilResize.Resize(pixels, w, h, c, t.W, t.H);
            (w, h) = (t.W, t.H);
        }
        bool cropped = false;
        if (spec.Crop is { } crop && (crop.H != h || crop.W != w))
        {
            pixels = PilResize.CenterCrop(pixels, w, h, c, crop.H, crop.W);
            (w, h, cropped) = (crop.W, crop.H, true);
        }
        int outC = encoderChannels ?? c;
        var data = new float[(long)outC * h * w];
        ToTensor(spec, pixels, c, h, w, data);
        if (outC == 3 && c == 1)
        {
            data.AsSpan(0, h * w).CopyTo(data.AsSpan(h * w));
            data.AsSpan(0, h * w).CopyTo(data.AsSpan(2 * h * w));
        }
        // Dense maps go back to the image's own size, unless a crop cut part of it away: then to the crop's.
        return new PreparedImage(data, outC, h, w, cropped ? h : image.Height, cropped ? w : image.Width);
    }

    /// <summary>
    /// Interleaved bytes [H, W, C] → planes [C, H, W] of (p·scale − mean)/std. With scale = 1/k for a whole k (1/255)
    /// the division p/k is used, as torchvision's ToTensor computes it, so the values are identical, not just close.
    /// </summary>
    private static void ToTensor(PreprocessingSpec spec, ReadOnlySpan<byte> pixels, int c, int h, int w, Span<float> dst)
    {
        float inverse = 1f / spec.Scale, whole = MathF.Round(inverse);
        bool divide = whole >= 1 && MathF.Abs(inverse - whole) <= 1e-3f * whole && 1f / whole == spec.Scale;
        int plane = h * w;
        for (int ch = 0; ch < c; ch++)
        {
            int from = spec.Channels == ChannelOrder.Bgr ? c - 1 - ch : ch; // planes in B, G, R order for bgr
            float mean = PreprocessingSpec.At(spec.Mean, ch), std = PreprocessingSpec.At(spec.Std, ch);
            var outPlane = dst.Slice(ch * plane, plane);
            for (int i = 0; i < plane; i++)
            {
                float x = divide ? pixels[i * c + from] / whole : pixels[i * c + from] * spec.Scale;
                outPlane[i] = (x - mean) / std;
            }
        }
    }

    private static bool MeanAbove127(ReadOnlySpan<byte> pixels)
    {
        long sum = 0;
        foreach (byte p in pixels) sum += p;
        return pixels.Length > 0 && sum > 127L * pixels.Length;
    }
}
