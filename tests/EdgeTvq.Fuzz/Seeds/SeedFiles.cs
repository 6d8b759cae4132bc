namespace EdgeTvq.Fuzz.Seeds;

/// <summary>Seed files committed under tests/EdgeTvq.Fuzz/seeds (copied to the output folder).</summary>
public static class SeedFiles
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "seeds");

    public static IEnumerable<byte[]> Matching(params string[] extensions) =>
        Directory.Exists(Folder)
            ? Directory.EnumerateFiles(Folder).Where(f => extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal).Select(File.ReadAllBytes)
            : [];
}
