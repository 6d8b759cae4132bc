using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using StbImageSharp;

namespace EdgeTvq.Runtime.Tests.ImageOps;

/// <summary>
/// The reference files of <see cref="Script"/> (Pillow 9.4, torchvision 0.14, torch 1.13 and scikit-image's sample
/// photos), generated once per script version into a temp folder by /usr/bin/python3 (EDGETVQ_PYTHON overrides), and
/// helpers to run small Python checks on files the tests write.
/// </summary>
public static class ImageOpsReference
{
    static readonly Lazy<string> dir = new(Generate, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The folder holding the reference files (generated on first use).</summary>
    public static string Dir => dir.Value;

    public static string PathOf(string file) => Path.Combine(Dir, file);

    static string Generate()
    {
        // The script lives alone in a folder named by its hash, so PythonScript's cache key covers exactly this script.
        byte[] bytes = Encoding.UTF8.GetBytes(Script);
        string hash = Convert.ToHexString(SHA256.HashData(bytes))[..16].ToLowerInvariant();
        string scriptDir = Path.Combine(Path.GetTempPath(), "edgetvq-image-ops-script", hash);
        string script = Path.Combine(scriptDir, "image_ops.py");
        if (!File.Exists(script) || !File.ReadAllBytes(script).AsSpan().SequenceEqual(bytes))
        {
            Directory.CreateDirectory(scriptDir);
            string temp = script + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
            File.WriteAllBytes(temp, bytes);
            File.Move(temp, script, overwrite: true);
        }
        return EdgeTvq.TestSupport.PythonScript.RunCached(script, "done.txt", "edgetvq-image-ops-reference");
    }

    /// <summary>Decodes a PNG written by the reference script with StbImageSharp (exact for PNG).</summary>
    public static (byte[] Pixels, int Width, int Height) LoadPng(string file, int channels)
    {
        ImageResult image = ImageResult.FromMemory(File.ReadAllBytes(PathOf(file)), channels == 3 ? ColorComponents.RedGreenBlue : ColorComponents.Grey);
        return (image.Data, image.Width, image.Height);
    }

    /// <summary>Runs a Python program with the given arguments and returns its standard output.</summary>
    public static string RunPython(string code, params string[] args)
    {
        string python = Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3";
        var psi = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(code);
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {python}");
        Task<string> stdout = p.StandardOutput.ReadToEndAsync(), stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{python} did not finish in 2 minutes");
        }
        if (p.ExitCode != 0) throw new InvalidOperationException($"{python} failed with exit code {p.ExitCode}:\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }

    /// <summary>A fresh empty folder under the temp directory, deleted on dispose.</summary>
    public sealed class Scratch : IDisposable
    {
        public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "edgetvq-image-ops-tests", Guid.NewGuid().ToString("N")[..12]);

        public Scratch() => Directory.CreateDirectory(Path);

        public string File(string name) => System.IO.Path.Combine(Path, name);

        public void Dispose()
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The reference generator (run as <c>python3 image_ops.py OUTPUT_DIR</c>).</summary>
    public const string Script = """"
# Reference outputs for the image-operation tests (tests/EdgeRuntime.Tests/ImageOps): Pillow 9.4 resizes and
# conversions, torchvision 0.14 PIL-path pipelines and crops, torch 1.13 bilinear upsampling. Argument: output folder.
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data
from torchvision import transforms as T
from torchvision.transforms import functional as TF

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def path(name):
    return os.path.join(out, name)


rng = np.random.default_rng(20240611)
rgb_sources, gray_sources = [], []

for name in ["astronaut", "coffee", "chelsea"]:
    im = Image.fromarray(getattr(data, name)()).convert("RGB")
    im.save(path(name + ".png"))
    im.save(path(name + ".jpg"), quality=90)
    # What PIL decodes from the JPEG (stb_image decodes JPEG slightly differently).
    jpg = Image.open(path(name + ".jpg")).convert("RGB")
    jpg.save(path(name + "_jpg.png"))
    for src in [name, name + "_jpg"]:
        rgb_sources.append(src)
        Image.open(path(src + ".png")).convert("L").save(path(src + "_L.png"))
        gray_sources.append(src + "_L")

for name, (h, w) in {"rand_rgb": (512, 512), "rand_small": (61, 37)}.items():
    Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB").save(path(name + ".png"))
    rgb_sources.append(name)
    Image.open(path(name + ".png")).convert("L").save(path(name + "_L.png"))
    gray_sources.append(name + "_L")
Image.fromarray(rng.integers(0, 256, (10, 7), dtype=np.uint8), "L").save(path("rand_gray.png"))
gray_sources.append("rand_gray")

# Pillow bilinear resizes.
with open(path("resize.txt"), "w") as f:
    for src in rgb_sources + gray_sources:
        im = Image.open(path(src + ".png"))
        im.load()
        w, h = im.size
        sizes = [(28, 28), (224, 224), (100, 37), (37, 100), (w * 3 // 2, h * 4 // 3), (w, 77), (61, h), (1, 1), (3, 500), (w + 1, h - 1 if h > 1 else 2)]
        for ow, oh in sizes:
            expected = "resize_%s_%dx%d.png" % (src, ow, oh)
            im.resize((ow, oh), Image.BILINEAR).save(path(expected))
            f.write("%s %s %d %d %s\n" % (src, im.mode, ow, oh, expected))

# torchvision PIL-path pipelines.
rgb_pipe = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
gray_pipes = {
    "48": T.Compose([T.Grayscale(), T.Resize(48), T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]),
    "28x28": T.Compose([T.Grayscale(), T.Resize((28, 28)), T.ToTensor(), T.Normalize((0.1307,), (0.3081,))]),
}
for src in rgb_sources:
    im = Image.open(path(src + ".png")).convert("RGB")
    np.save(path("pipe_rgb_%s.npy" % src), rgb_pipe(im).numpy().astype("<f4"))
    for key, pipe in gray_pipes.items():
        np.save(path("pipe_gray%s_%s.npy" % (key, src)), pipe(im).numpy().astype("<f4"))

# torchvision CenterCrop, including crops larger than the image.
with open(path("crop.txt"), "w") as f:
    for src in ["rand_small", "rand_gray"]:
        im = Image.open(path(src + ".png"))
        im.load()
        w, h = im.size
        crops = [(1, 1), (2, 3), (3, 2), (4, 4), (5, 6), (h - 1, w - 1), (h, w), (h + 3, w + 3), (h + 4, w + 1), (h + 9, 2), (2, w + 9), (h - 2, w + 2)]
        for ch, cw in crops:
            expected = "crop_%s_%dx%d.png" % (src, ch, cw)
            TF.center_crop(im, [ch, cw]).save(path(expected))
            f.write("%s %d %d %s\n" % (src, ch, cw, expected))

# torchvision Resize(int) output sizes.
with open(path("shorter_side.txt"), "w") as f:
    cases = [(256, 256, 256), (500, 375, 256), (375, 500, 256), (640, 480, 224), (1, 1000, 7), (1000, 3, 5), (37, 61, 256), (999, 1001, 333)]
    cases += [(int(rng.integers(1, 3000)), int(rng.integers(1, 3000)), int(rng.integers(1, 700))) for _ in range(300)]
    for w, h in [(13, 7), (7, 13), (8, 8)]:  # checked on real images too
        im = Image.new("L", (w, h))
        for size in [1, 5, 7, 9, 20]:
            ow, oh = T.Resize(size)(im).size
            f.write("%d %d %d %d %d\n" % (w, h, size, ow, oh))
    for w, h, size in cases:
        oh, ow = TF._compute_resized_output_size((h, w), [size])
        f.write("%d %d %d %d %d\n" % (w, h, size, ow, oh))

# torch bilinear upsampling, align_corners=True.
up_cases = [(3, 7, 5, 28, 20), (2, 1, 1, 4, 6), (1, 1, 5, 3, 9), (1, 5, 1, 9, 3), (4, 16, 16, 16, 16), (2, 9, 13, 4, 6),
            (5, 14, 14, 224, 224), (1, 3, 4, 1, 1), (2, 4, 3, 4, 11), (3, 2, 2, 3, 3), (1, 21, 19, 512, 300)]
with open(path("upsample.txt"), "w") as f:
    for k, (c, h, w, oh, ow) in enumerate(up_cases):
        x = torch.from_numpy(rng.standard_normal((1, c, h, w)).astype(np.float32))
        y = F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=True)
        np.save(path("up_%d_in.npy" % k), x[0].numpy())
        np.save(path("up_%d_out.npy" % k), y[0].numpy())
        f.write("%d %d %d %d %d %d\n" % (k, c, h, w, oh, ow))

# L2 normalisation over channels and arg-max.
x = torch.from_numpy(rng.standard_normal((4, 13, 17)).astype(np.float32) * 3)
np.save(path("l2_in.npy"), x.numpy())
np.save(path("l2_out.npy"), (x[None] / torch.norm(x[None], p=2, dim=1, keepdim=True))[0].numpy())
logits = torch.from_numpy(rng.standard_normal((21, 9, 11)).astype(np.float32))
np.save(path("argmax_in.npy"), logits.numpy())
np.save(path("argmax_out.npy"), torch.argmax(logits, dim=0).numpy().astype("<i4"))

with open(path("done.txt"), "w") as f:
    f.write("ok\n")
"""";
}
