using System.Security.Cryptography;
using EdgeTvq.Format;
using EdgeTvq.IO;

namespace EdgeTvq.Bundle;

/// <summary>What an update did: the generation now installed (SHA-256 of its manifest, 16 hex digits) and a sentence.</summary>
public sealed record UpdateReport(string Generation, string? Signer, string Summary);

/// <summary>
/// Field updates of an installed bundle, done so that a crash or kill -9 at any moment leaves the old generation or
/// the new one, never a mix (docs/bundle-format.md, section 9):
/// <list type="number">
/// <item>the new manifest's signature is checked against the device's trusted keys, and the new manifest against the
///   installed one (same bundle, scheme, pretrained model and tensor table; only the expected tasks added or removed);</item>
/// <item>a new task file is checked (size, SHA-256 and header against the signed manifest), written as NAME.partial,
///   flushed, renamed into place — unlisted until the manifest names it, so readers ignore it;</item>
/// <item>manifest.json.sig is rewritten to hold the signatures of both generations, the installed manifest is kept as
///   manifest.previous.json (for <see cref="Rollback"/>), then the new manifest is renamed over manifest.json;
///   every file and the folder are flushed to disk before the next step.</item>
/// </list>
/// A running server picks the new generation up on its next reload; requests in flight finish on the old one. Files
/// a generation no longer lists are kept, so that a rollback has them.
/// </summary>
public static class BundleUpdate
{
    public const string PreviousManifestFileName = "manifest.previous.json";

    /// <summary>The generation of a manifest: the first 16 hex digits of SHA-256 of its bytes.</summary>
    public static string GenerationOf(ReadOnlySpan<byte> manifest) => Convert.ToHexStringLower(SHA256.HashData(manifest))[..16];

    /// <summary>The installed generation of <paramref name="bundleDir"/>.</summary>
    public static string CurrentGeneration(string bundleDir) => GenerationOf(ManifestIO.ReadBytes(bundleDir).Bytes);

    /// <summary>Adds (or replaces, with <paramref name="force"/>) the task in <paramref name="taskFile"/>, as listed by the signed <paramref name="newManifest"/>.</summary>
    public static UpdateReport Add(string bundleDir, string taskFile, string newManifest, string? signatureFile, BundleTrust trust, bool force = false)
    {
        using var writeLock = BundleWriteLock.Acquire(bundleDir, TimeSpan.FromSeconds(30));
        var (installedBytes, installed, next, nextBytes, signatures, signer) = Prepare(bundleDir, newManifest, signatureFile, trust);
        string name = Path.GetFileName(taskFile);
        var entry = next.Tasks.FirstOrDefault(t => t.File == name)
            ?? throw new BundleFormatException(newManifest, $"does not list {name}; pass the manifest that 'edgetvq-pack add-task' wrote with this task file");
        var added = next.Tasks.Select(t => t.File).Except(installed.Tasks.Select(t => t.File)).ToList();
        var dropped = installed.Tasks.Select(t => t.File).Except(next.Tasks.Select(t => t.File)).ToList();
        if (dropped.Count > 0 && !force)
            throw new BundleFormatException(newManifest, $"no longer lists {string.Join(", ", dropped)}: not an add-task of the installed bundle (use 'edgetvq update remove' to remove a task, or --force)");
        if (added.Any(f => f != name))
            throw new BundleFormatException(newManifest, $"also adds {string.Join(", ", added.Where(f => f != name))}, which this update does not carry; add those tasks first");
        var old = installed.Tasks.FirstOrDefault(t => t.File == name);
        if (old is not null && old.Sha256 != entry.Sha256 && !force)
            throw new BundleFormatException(Path.Combine(bundleDir, name), "the installed bundle already has a different file of this name (--force to replace it)");
        CheckTaskFile(taskFile, entry, next);
        CheckOtherFiles(bundleDir, next, except: name);

        string target = Path.Combine(bundleDir, name);
        if (!(File.Exists(target) && Sha256Of(target) == entry.Sha256))
        {
            if (Path.GetFullPath(taskFile) == Path.GetFullPath(target))
                throw new BundleFormatException(taskFile, "is the bundle's own file; pass the new copy");
            CopyAtomic(taskFile, target);
        }
        Install(bundleDir, installedBytes, nextBytes, signatures);
        return new UpdateReport(GenerationOf(nextBytes), signer,
            $"added task '{entry.Name}' ({name}, {entry.Bytes:N0} bytes); generation {GenerationOf(installedBytes)} → {GenerationOf(nextBytes)}, {next.Tasks.Count} tasks");
    }

    /// <summary>Installs a signed manifest that lists the installed tasks but one; its file stays (unlisted) for a rollback.</summary>
    public static UpdateReport Remove(string bundleDir, string newManifest, string? signatureFile, BundleTrust trust)
    {
        using var writeLock = BundleWriteLock.Acquire(bundleDir, TimeSpan.FromSeconds(30));
        var (installedBytes, installed, next, nextBytes, signatures, signer) = Prepare(bundleDir, newManifest, signatureFile, trust);
        var dropped = installed.Tasks.Where(t => next.Tasks.All(n => n.File != t.File)).ToList();
        bool sameOthers = next.Tasks.All(n => installed.Tasks.Any(t => t.File == n.File && t.Sha256 == n.Sha256));
        if (dropped.Count != 1 || !sameOthers)
            throw new BundleFormatException(newManifest, $"is not the installed manifest minus one task (it drops {dropped.Count} and {(sameOthers ? "keeps the others" : "changes others")}); make it with 'edgetvq-pack remove-task' on the signer's copy");
        CheckOtherFiles(bundleDir, next, except: null);
        Install(bundleDir, installedBytes, nextBytes, signatures);
        return new UpdateReport(GenerationOf(nextBytes), signer,
            $"removed task '{dropped[0].Name}' ({dropped[0].File} kept for rollback); generation {GenerationOf(installedBytes)} → {GenerationOf(nextBytes)}, {next.Tasks.Count} tasks");
    }

    /// <summary>Makes the previous generation current again (and the current one previous: a second rollback undoes the first).</summary>
    public static UpdateReport Rollback(string bundleDir, BundleTrust trust)
    {
        using var writeLock = BundleWriteLock.Acquire(bundleDir, TimeSpan.FromSeconds(30));
        var (currentBytes, currentPath) = ManifestIO.ReadBytes(bundleDir);
        string previousPath = Path.Combine(bundleDir, PreviousManifestFileName);
        if (LocalFile.KindOf(previousPath) == LocalFileKind.Missing)
            throw new BundleFormatException(previousPath, "is missing: there is no previous generation to roll back to (an update keeps one)");
        byte[] previousBytes;
        try { previousBytes = LocalFile.ReadAllBytes(previousPath, ManifestIO.MaxManifestBytes, "previous manifest"); }
        catch (InvalidDataException e) { throw new BundleFormatException(previousPath, e.Message, inner: e); }
        string sigPath = Path.Combine(bundleDir, SignatureFile.FileName);
        var signatures = BundleSigning.Read(sigPath);
        string? signer = trust.Check(previousBytes, previousPath, signatures, sigPath);
        var previous = ManifestIO.Parse(previousBytes, previousPath);
        var current = ManifestIO.Parse(currentBytes, currentPath);
        if (previous.BundleId != current.BundleId)
            throw new BundleFormatException(previousPath, $"belongs to bundle {previous.BundleId}, the installed one is {current.BundleId}");
        CheckOtherFiles(bundleDir, previous, except: null);
        string manifestPath = Path.Combine(bundleDir, FormatConstants.ManifestFileName);
        // Both written aside first; then one rename switches the generation (a crash before the second rename leaves
        // the old generation current and previous alike: still one complete generation).
        WriteFlushed(manifestPath + ".partial", previousBytes);
        WriteFlushed(previousPath + ".partial", currentBytes);
        File.Move(manifestPath + ".partial", manifestPath, overwrite: true);
        File.Move(previousPath + ".partial", previousPath, overwrite: true);
        LocalFile.SyncDirectory(bundleDir);
        return new UpdateReport(GenerationOf(previousBytes), signer,
            $"rolled back: generation {GenerationOf(currentBytes)} → {GenerationOf(previousBytes)}, {previous.Tasks.Count} tasks ('edgetvq update rollback' again undoes this)");
    }

    private static (byte[] InstalledBytes, BundleManifest Installed, BundleManifest Next, byte[] NextBytes, SignatureFile Signatures, string? Signer)
        Prepare(string bundleDir, string newManifest, string? signatureFile, BundleTrust trust)
    {
        var (installedBytes, installedPath) = ManifestIO.ReadBytes(bundleDir);
        var installed = ManifestIO.Parse(installedBytes, installedPath);
        LocalFile.RequireRegular(newManifest, "manifest");
        byte[] nextBytes;
        try { nextBytes = LocalFile.ReadAllBytes(newManifest, ManifestIO.MaxManifestBytes, "manifest"); }
        catch (InvalidDataException e) { throw new BundleFormatException(newManifest, e.Message, inner: e); }
        signatureFile ??= newManifest + ".sig";
        var offered = BundleSigning.Read(signatureFile);
        string? signer = trust.Check(nextBytes, newManifest, offered, signatureFile);
        var next = ManifestIO.Parse(nextBytes, newManifest);
        if (next.BundleId != installed.BundleId)
            throw new BundleFormatException(newManifest, $"is for bundle {next.BundleId}, the installed bundle is {installed.BundleId}; files of different bundles cannot be mixed");
        if (DiffersBeyondTasks(installed, next) is { } what)
            throw new BundleFormatException(newManifest, $"changes {what}: not an update of the installed bundle; install the new bundle as a whole");
        // The device's signature file keeps the installed generation's entries (for rollback and crash safety) beside the new ones.
        var installedSigs = BundleSigning.Read(Path.Combine(bundleDir, SignatureFile.FileName));
        string nextSha = Convert.ToHexStringLower(SHA256.HashData(nextBytes));
        var merged = BundleSigning.Merge(installedSigs, offered?.Signatures.Where(s => s.ManifestSha256 == nextSha) ?? []);
        return (installedBytes, installed, next, nextBytes, merged, signer);
    }

    /// <summary>
    /// What makes <paramref name="next"/> another bundle than <paramref name="installed"/> rather than a later generation of
    /// it (its settings, pretrained model, base file or tensor table), or null when only tasks and recipes differ. The one
    /// rule for an update (<see cref="Add"/>, <see cref="Remove"/>) and for a server picking a generation up.
    /// </summary>
    public static string? DiffersBeyondTasks(BundleManifest installed, BundleManifest next)
    {
        static string Settings(BundleManifest m) => $"{m.BundleId}/{m.Scheme}/{m.Quantizer}/{m.Bits}/{m.BaseBits}/{m.OffsetBits}/{m.ErrorCorrection}/{m.Policy}/{m.GroupMode}";
        if (Settings(next) != Settings(installed)) return "the bundle id, scheme, quantizer or policy";
        if (next.Pretrained.Sha256 != installed.Pretrained.Sha256) return "the pretrained model";
        if (next.Base?.Sha256 != installed.Base?.Sha256) return "the base file";
        if (next.Tensors.Count != installed.Tensors.Count || next.Tensors.Zip(installed.Tensors).Any(p => p.First.Name != p.Second.Name || p.First.Storage != p.Second.Storage || !p.First.Shape.SequenceEqual(p.Second.Shape)
            || p.First.Bits != p.Second.Bits || p.First.BaseBits != p.Second.BaseBits || p.First.OffsetBits != p.Second.OffsetBits
            || p.First.Group != p.Second.Group || p.First.BaseGroup != p.Second.BaseGroup || p.First.OffsetGroup != p.Second.OffsetGroup))
            return "the tensor table";
        return null;
    }

    private static void CheckTaskFile(string taskFile, TaskEntry entry, BundleManifest next)
    {
        LocalFile.RequireRegular(taskFile, "task file");
        long length = new FileInfo(taskFile).Length;
        if (length != entry.Bytes)
            throw new BundleFormatException(taskFile, $"is {length:N0} bytes, the manifest says {entry.Bytes:N0}: it is truncated or not this task's file; copy it again");
        using (var s = new FileStream(taskFile, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            var head = new byte[FormatConstants.HeaderSize];
            s.ReadExactly(head);
            var h = FileHeader.Read(head, taskFile);
            if (h.Kind != FileKind.Task)
                throw new BundleFormatException(taskFile, $"is a {h.Kind} file, not a task file");
            if (h.BundleId.ToString("N") != next.BundleId)
                throw new BundleFormatException(taskFile, $"belongs to bundle {h.BundleId:N}, not to {next.BundleId}");
        }
        if (Sha256Of(taskFile) != entry.Sha256)
            throw new BundleFormatException(taskFile, "SHA-256 differs from the signed manifest's: the file was damaged or replaced; copy it again from the signer");
    }

    /// <summary>Every file the manifest lists (but <paramref name="except"/>) must be in the bundle with its listed size.</summary>
    private static void CheckOtherFiles(string bundleDir, BundleManifest m, string? except)
    {
        foreach (var f in m.Tasks.Cast<FileEntry>().Prepend(m.Base).OfType<FileEntry>())
        {
            if (f.File == except) continue;
            string path = Path.Combine(bundleDir, f.File);
            if (LocalFile.KindOf(path) != LocalFileKind.Regular)
                throw new BundleFormatException(path, "is listed by the new manifest but not in the installed bundle; send that task's update first");
            if (new FileInfo(path).Length != f.Bytes)
                throw new BundleFormatException(path, $"is {new FileInfo(path).Length:N0} bytes, the new manifest says {f.Bytes:N0}");
        }
    }

    private static void Install(string bundleDir, byte[] installedBytes, byte[] nextBytes, SignatureFile signatures)
    {
        if (signatures.Signatures.Count > 0)
            LocalFile.WriteAtomic(Path.Combine(bundleDir, SignatureFile.FileName), BundleSigning.Serialize(signatures));
        LocalFile.WriteAtomic(Path.Combine(bundleDir, PreviousManifestFileName), installedBytes);
        LocalFile.WriteAtomic(Path.Combine(bundleDir, FormatConstants.ManifestFileName), nextBytes);
    }

    private static void CopyAtomic(string source, string target)
    {
        string partial = target + ".partial";
        using (var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20))
        using (var to = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            from.CopyTo(to, 1 << 20);
            to.Flush(flushToDisk: true);
        }
        File.Move(partial, target, overwrite: true);
        LocalFile.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
    }

    private static void WriteFlushed(string path, byte[] bytes)
    {
        using var s = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        s.Write(bytes);
        s.Flush(flushToDisk: true);
    }

    private static string Sha256Of(string path)
    {
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }
}
