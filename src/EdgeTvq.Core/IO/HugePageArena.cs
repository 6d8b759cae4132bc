using System.Runtime.InteropServices;

namespace EdgeTvq.IO;

/// <summary>
/// One block of native memory for a whole weight set: a single allocation, 2 MiB aligned and advised for transparent
/// huge pages (madvise MADV_HUGEPAGE), so that filling 350 MB of merged weights costs a few hundred page faults instead
/// of ~90,000 (one per 4 KiB page, ~13 µs each on a VM). Where THP is off or madvise fails the memory works the same
/// with small pages: the advice is only advice. Contents start unspecified (in practice zero); callers overwrite.
/// </summary>
public sealed unsafe partial class HugePageArena : IDisposable
{
    /// <summary>The huge page size advised for (x86-64 and arm64 with 4 KiB base pages).</summary>
    public const long HugePageBytes = 2L << 20;
    /// <summary>Alignment of every block handed out by <see cref="Layout"/>: a cache line, and a whole SIMD vector.</summary>
    public const int BlockAlignment = 64;

    private byte* _base;

    /// <summary>Bytes reserved (a whole number of huge pages).</summary>
    public long Length { get; }

    /// <summary>Whether the kernel accepted the huge-page advice (false: small pages, still correct).</summary>
    public bool HugePagesAdvised { get; }

    public HugePageArena(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Length = Math.Max(HugePageBytes, (bytes + HugePageBytes - 1) / HugePageBytes * HugePageBytes);
        _base = (byte*)NativeMemory.AlignedAlloc((nuint)Length, (nuint)HugePageBytes);
        HugePagesAdvised = OperatingSystem.IsLinux() && Advise(_base, Length);
    }

    /// <summary>Start of the arena; valid until <see cref="Dispose"/>.</summary>
    public byte* Pointer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_base == null, this);
            return _base;
        }
    }

    /// <summary>
    /// Offsets of consecutive blocks of <paramref name="sizes"/> bytes, each aligned to <see cref="BlockAlignment"/>,
    /// and the total they need.
    /// </summary>
    public static (long[] Offsets, long Total) Layout(IReadOnlyList<long> sizes)
    {
        var offsets = new long[sizes.Count];
        long at = 0;
        for (int i = 0; i < sizes.Count; i++)
        {
            offsets[i] = at;
            at = checked(at + (Math.Max(sizes[i], 1) + BlockAlignment - 1) / BlockAlignment * BlockAlignment);
        }
        return (offsets, at);
    }

    public void Dispose()
    {
        if (_base == null) return;
        NativeMemory.AlignedFree(_base);
        _base = null;
    }

    private static bool Advise(byte* address, long length)
    {
        try { return Native.MAdvise(address, (nuint)length, Native.MADV_HUGEPAGE) == 0; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    private static partial class Native
    {
        // Same value on x86-64 and arm64 Linux (uapi asm-generic/mman-common.h).
        public const int MADV_HUGEPAGE = 14;

        [LibraryImport("libc.so.6", EntryPoint = "madvise")]
        public static partial int MAdvise(void* address, nuint length, int advice);
    }
}
