using System.Security.Cryptography;

namespace EdgeTvq.Runtime.Serving;

/// <summary>
/// The bundle generation a served model was merged from: the first 16 hex digits of the SHA-256 of manifest.json's
/// bytes. Every change to a bundle (a task added, a recipe set) rewrites the manifest, so a new generation means a new
/// bundle. This is the one place that defines it; signed updates will replace it by their counter.
/// </summary>
public static class BundleGeneration
{
    public static string Of(string bundleDir) => Of(File.ReadAllBytes(Path.Combine(bundleDir, "manifest.json")));

    public static string Of(ReadOnlySpan<byte> manifestBytes) => Convert.ToHexStringLower(SHA256.HashData(manifestBytes))[..16];
}
