using EdgeTvq.Fuzz.Harness;

namespace EdgeTvq.Fuzz.Targets;

/// <summary>Every fuzz target. A new parser (e.g. the HTTP request parser) is one IFuzzTarget class plus one line here.</summary>
public static class TargetRegistry
{
    public static IReadOnlyList<IFuzzTarget> All() =>
    [
        new ManifestTarget(),
        new BundleFileTarget(),
        new SafetensorsTarget(),
        new TorchTarget(),
        new OnnxTarget(),
        new RuntimeOnnxTarget(),
        new RecipeTarget(),
        new ImageTarget(),
        new PreprocessingTarget(),
    ];

    public static IFuzzTarget? Find(string name) => All().FirstOrDefault(t => t.Name.Equals(name, StringComparison.OrdinalIgnoreCase));
}
