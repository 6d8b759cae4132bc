namespace EdgeTvq.Bundle;

/// <summary>
/// The exclusive lock every command that rewrites a bundle holds from reading the manifest to renaming the new one
/// into place (add-task, recipe set/remove), so two writers never both start from the same manifest and one of them
/// silently loses its change. It is an advisory lock (flock(2)) on the bundle folder itself, so no file is added to
/// the bundle; readers never take it, and a writer that dies (kill -9 included) releases it with its descriptors.
/// </summary>
public sealed class BundleWriteLock : IDisposable
{
    private readonly IDisposable _lock;

    private BundleWriteLock(IDisposable held) => _lock = held;

    /// <summary>
    /// Takes the lock on <paramref name="bundleDir"/>, waiting up to <paramref name="wait"/> for another writer to finish
    /// (<paramref name="onWait"/> is told once when it has to wait). Throws <see cref="IOException"/> when the wait runs out.
    /// </summary>
    public static BundleWriteLock Acquire(string bundleDir, TimeSpan wait, Action<string>? onWait = null)
    {
        if (!Directory.Exists(bundleDir))
            throw new Format.BundleFormatException(bundleDir, "bundle directory does not exist; pass the folder that edgetvq-pack pack --out created");
        var deadline = DateTime.UtcNow + wait;
        bool told = false;
        while (true)
        {
            if (IO.LocalFile.TryLockDirectory(bundleDir) is { } held) return new BundleWriteLock(held);
            if (DateTime.UtcNow >= deadline)
                throw new IOException($"{bundleDir}: another edgetvq-pack command has been writing this bundle for over {wait.TotalSeconds:F0} s; " +
                    "wait for it to finish and run this command again");
            if (!told) onWait?.Invoke($"{bundleDir}: another edgetvq-pack command is writing this bundle; waiting for it to finish");
            told = true;
            Thread.Sleep(50);
        }
    }

    public void Dispose() => _lock.Dispose();
}
