using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>
/// Checks a whole bundle: manifest, every file's checksums and cross-references, reading the base file and every task
/// file once, in one <see cref="BundleStream"/> pass. Collects the first problem of each file.
/// </summary>
public static class BundleVerifier
{
    public sealed record Result(List<string> Problems, List<string> Warnings, int FilesChecked)
    {
        public bool Ok => Problems.Count == 0;
    }

    public static Result Verify(string bundleDir)
    {
        var problems = new List<string>();
        var warnings = new List<string>();
        BundleManifest m;
        try { m = ManifestIO.Load(bundleDir); }
        catch (BundleFormatException e)
        {
            problems.Add(e.Message);
            return new Result(problems, warnings, 0);
        }
        // One lockstep pass over the base file and every task file: the base is read once, and a file that fails
        // is reported and dropped while the others are checked to their end.
        int before = problems.Count;
        using (var stream = BundleStream.OpenCollecting(bundleDir, m, problems))
        {
            while (stream.MoveNext()) { }
            stream.Finish();
        }
        int files = 1 + m.Tasks.Count + (m.Base is null ? 0 : 1) - (problems.Count - before);
        var listed = new HashSet<string>(m.Tasks.Select(t => t.File)) { FormatConstants.ManifestFileName };
        if (m.Base is not null) listed.Add(m.Base.File);
        foreach (var f in Directory.EnumerateFiles(bundleDir).Select(Path.GetFileName))
            if (!listed.Contains(f!))
                warnings.Add(f!.EndsWith(".partial", StringComparison.Ordinal)
                    ? $"{f}: left over from an interrupted write; safe to delete"
                    : BundlePacker.IsLeftoverTaskFile(Path.Combine(bundleDir, f), m)
                        ? $"{f}: a task file of this bundle that is not in manifest.json, left over from an interrupted add-task; " +
                          "safe to delete, or run the same add-task again, which replaces it"
                        : $"{f}: not listed in manifest.json (ignored)");
        return new Result(problems, warnings, files);
    }
}
