using System.Text.Json;
using Xunit;

namespace EdgeTvq.TestSupport;

/// <summary>
/// The quick real-data zoo that <c>./build.sh test</c> builds before running the tests (bench/zoo). Found through
/// EDGETVQ_ZOO or at artifacts/zoo/quick-8tasks in the repository; missing is a test failure with what to run.
/// </summary>
public sealed class ZooFixture
{
    public string Dir { get; }
    public JsonElement Manifest { get; }

    public ZooFixture()
    {
        string? dir = Environment.GetEnvironmentVariable("EDGETVQ_ZOO");
        if (string.IsNullOrEmpty(dir))
        {
            var d = new DirectoryInfo(AppContext.BaseDirectory);
            while (d is not null && !File.Exists(Path.Combine(d.FullName, "EdgeTvq.sln"))) d = d.Parent;
            dir = d is null ? "" : Path.Combine(d.FullName, "artifacts", "zoo", "quick-8tasks");
        }
        string manifest = Path.Combine(dir, "manifest.json");
        Assert.True(File.Exists(manifest), $"the quick zoo is missing at {dir}: run ./build.sh zoo --quick (./build.sh test does this)");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(manifest));
        Manifest = doc.RootElement.Clone();
        Assert.True(Manifest.GetProperty("complete").GetBoolean(), $"{manifest} is from an interrupted build: run ./build.sh zoo --quick");
        Dir = dir;
    }

    public string File_(string key) => Path.Combine(Dir, Manifest.GetProperty("files").GetProperty(key).GetString()!);

    public IEnumerable<(string Name, string Pt, string Safetensors, string[] Labels)> Tasks =>
        Manifest.GetProperty("tasks").EnumerateArray().Select(t => (
            t.GetProperty("name").GetString()!,
            Path.Combine(Dir, t.GetProperty("files").GetProperty("pt").GetString()!),
            Path.Combine(Dir, t.GetProperty("files").GetProperty("safetensors").GetString()!),
            t.GetProperty("label_names").EnumerateArray().Select(l => l.GetString()!).ToArray()));

    /// <summary>A task's exported test images (idx3) file; its labels file sits beside it.</summary>
    public string TestImages(string task) => Path.Combine(Dir, Manifest.GetProperty("tasks").EnumerateArray()
        .First(t => t.GetProperty("name").GetString() == task).GetProperty("files").GetProperty("test_images").GetString()!);
}
