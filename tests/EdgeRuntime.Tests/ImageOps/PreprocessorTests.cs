using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Output;
using static EdgeTvq.Runtime.Tests.ImageOps.ImageOpsReference;

namespace EdgeTvq.Runtime.Tests.ImageOps;

/// <summary>
/// The runtime's preprocessing as a task gets it: metadata JSON → <see cref="PreprocessingSpec"/> → files decoded by
/// <see cref="ImageFiles"/> → <see cref="Preprocessor"/>, against torchvision 0.14's PIL path on the same PNG files
/// (the references of <see cref="ImageOpsReference"/>).
/// </summary>
public sealed class PreprocessorTests
{
    public static TheoryData<string> Photos => new() { "astronaut", "coffee", "chelsea", "rand_rgb" };

    private static PreparedImage Prepare(string json, string file, int? encoderChannels = null)
    {
        var spec = PreprocessingSpec.Parse(JsonDocument.Parse(json).RootElement);
        var image = Assert.Single(ImageFiles.Load(PathOf(file)));
        return Preprocessor.Apply(spec, image, encoderChannels);
    }

    private static void AssertClose(float[] expected, float[] actual, float tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        float worst = 0;
        for (int i = 0; i < expected.Length; i++) worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
        Assert.True(worst <= tolerance, $"{what}: max |difference| {worst} > {tolerance}");
    }

    [Theory]
    [MemberData(nameof(Photos))]
    public void An_rgb_task_equals_torchvision_resize_crop_normalize(string photo)
    {
        var x = Prepare("""{"channels": "rgb", "resize": 256, "crop": [224, 224], "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}""", photo + ".png");
        Assert.Equal((3, 224, 224), (x.Channels, x.Height, x.Width));
        Assert.Equal((224, 224), (x.OutputHeight, x.OutputWidth)); // cropped: dense maps come back at the crop's size
        var reference = NpyFile.Read(PathOf("pipe_rgb_" + photo + ".npy"));
        AssertClose(reference.Floats!, x.Data, 1e-6f, photo);
    }

    [Theory]
    [MemberData(nameof(Photos))]
    public void A_gray_task_equals_torchvision_grayscale_resize_normalize(string photo)
    {
        var x = Prepare("""{"channels": "gray", "resize": 48, "mean": 0.1307, "std": 0.3081}""", photo + ".png");
        var reference = NpyFile.Read(PathOf("pipe_gray48_" + photo + ".npy"));
        Assert.Equal(reference.Shape, new[] { x.Channels, x.Height, x.Width });
        AssertClose(reference.Floats!, x.Data, 1e-6f, photo + " Resize(48)");
        var image = Assert.Single(ImageFiles.Load(PathOf(photo + ".png")));
        Assert.Equal((image.Height, image.Width), (x.OutputHeight, x.OutputWidth)); // not cropped: the image's own size

        x = Prepare("""{"channels": "gray", "resize": [28, 28], "mean": [0.1307], "std": [0.3081]}""", photo + ".png");
        AssertClose(NpyFile.Read(PathOf("pipe_gray28x28_" + photo + ".npy")).Floats!, x.Data, 1e-6f, photo + " Resize((28, 28))");
    }

    [Fact]
    public void Bgr_reverses_the_planes_and_a_gray_task_fills_a_three_channel_encoder()
    {
        var rgb = Prepare("""{"channels": "rgb", "resize": [20, 30], "scale": 1}""", "coffee.png");
        var bgr = Prepare("""{"channels": "bgr", "resize": [20, 30], "scale": 1}""", "coffee.png");
        int plane = 20 * 30;
        Assert.Equal(rgb.Data.AsSpan(0, plane).ToArray(), bgr.Data.AsSpan(2 * plane, plane).ToArray());
        Assert.Equal(rgb.Data.AsSpan(2 * plane, plane).ToArray(), bgr.Data.AsSpan(0, plane).ToArray());
        Assert.True(rgb.Data.Max() > 1f, "scale 1 keeps the 0..255 range");

        var gray3 = Prepare("""{"channels": "gray", "resize": [20, 30]}""", "coffee.png", encoderChannels: 3);
        Assert.Equal(3, gray3.Channels);
        Assert.Equal(gray3.Data.AsSpan(0, plane).ToArray(), gray3.Data.AsSpan(plane, plane).ToArray());
        Assert.Equal(gray3.Data.AsSpan(0, plane).ToArray(), gray3.Data.AsSpan(2 * plane, plane).ToArray());
        var e = Assert.Throws<InvalidDataException>(() => Prepare("""{"channels": "rgb"}""", "coffee.png", encoderChannels: 1));
        Assert.Contains("channels", e.Message);
    }

    [Fact]
    public void Invert_follows_the_key_and_auto_inverts_light_images_only()
    {
        var plain = Prepare("""{"channels": "gray", "resize": [8, 8], "scale": 1}""", "coffee.png");
        var inverted = Prepare("""{"channels": "gray", "resize": [8, 8], "scale": 1, "invert": true}""", "coffee.png");
        for (int i = 0; i < plain.Data.Length; i++) Assert.Equal(255f - plain.Data[i], inverted.Data[i]);
        var auto = Prepare("""{"channels": "gray", "resize": [8, 8], "scale": 1, "invert": "auto"}""", "coffee.png");
        bool light = plain.Data.Average() > 127;
        Assert.Equal(light ? inverted.Data : plain.Data, auto.Data);
    }

    [Fact]
    public void The_zoo_s_older_metadata_still_means_28_by_28_gray_inverted_when_light()
    {
        var legacy = PreprocessingSpec.Parse(JsonDocument.Parse("""{"input": "image", "shape": [null, 1, 28, 28], "mean": 0.5, "std": 0.5, "formula": "x"}""").RootElement);
        Assert.Equal((ChannelOrder.Gray, (28, 28), InvertMode.Auto), (legacy.Channels, legacy.FixedSize!.Value, legacy.Invert));
        Assert.Equal([0.5f], legacy.Mean);
        Assert.Equal(PreprocessingSpec.Legacy, PreprocessingSpec.Parse(null));
        var x = Preprocessor.Apply(legacy, InputImage.Gray("digit", 28, 28, Enumerable.Repeat((byte)255, 784).ToArray()));
        Assert.All(x.Data, v => Assert.Equal(-1f, v)); // a white page is background after inversion: (0/255 − 0.5)/0.5
    }
}
