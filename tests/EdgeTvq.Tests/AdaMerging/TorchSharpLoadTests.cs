using static TorchSharp.torch;

namespace EdgeTvq.Tests.AdaMerging;

/// <summary>TorchSharp loads here (Debian 12's libstdc++ lacks GLIBCXX_3.4.32) thanks to scripts/patch-torchsharp.sh.</summary>
public class TorchSharpLoadTests
{
    [Fact]
    public void The_build_copies_the_patched_library_and_its_shim()
    {
        string native = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        Assert.True(File.Exists(Path.Combine(native, "libedgetvq_glibcxx_shim.so")), $"shim missing in {native}");
        var lib = File.ReadAllBytes(Path.Combine(native, "libLibTorchSharp.so"));
        Assert.True(lib.AsSpan().IndexOf("libedgetvq_glibcxx_shim.so\0"u8) >= 0, "libLibTorchSharp.so does not name the shim");
    }

    [Fact]
    public void Loads_and_multiplies_matrices()
    {
        var rng = new Random(3);
        int m = 64, k = 300, n = 50;
        var a = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        var b = Enumerable.Range(0, k * n).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray();
        using var ta = tensor(a, [m, k]);
        using var tb = tensor(b, [k, n]);
        using var c = ta.matmul(tb);
        var got = c.data<float>().ToArray();
        for (int i = 0; i < m; i += 7)
            for (int j = 0; j < n; j += 5)
            {
                double expected = 0;
                for (int x = 0; x < k; x++) expected += (double)a[i * k + x] * b[x * n + j];
                Assert.Equal(expected, got[i * n + j], 3);
            }
        using var big = ones(1000, 1000);
        Assert.Equal(1000f, big.matmul(big)[0, 0].item<float>());
    }
}
