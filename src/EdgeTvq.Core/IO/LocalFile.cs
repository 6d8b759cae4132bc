using System.Runtime.InteropServices;

namespace EdgeTvq.IO;

/// <summary>What a path names once symbolic links are followed.</summary>
public enum LocalFileKind { Missing, Regular, Directory, Fifo, CharacterDevice, BlockDevice, Socket, Other }

/// <summary>
/// The file-system checks every reader of untrusted paths shares: what kind of file a path names (so a FIFO, a
/// device or a directory is refused before it is opened: opening a FIFO blocks, reading /dev/zero never ends), the
/// real path with every symbolic link resolved (so "inside this folder" is decided on the file actually read, not
/// on the spelling of its name), a bounded whole-file read, and a lock on a folder. The system calls go through
/// .NET's own System.Native shim (the library System.IO itself calls, linked into native AOT builds), so no libc
/// symbol or struct layout is assumed.
/// </summary>
public static partial class LocalFile
{
    /// <summary>The kind of file <paramref name="path"/> names, following symbolic links (stat(2)).</summary>
    public static LocalFileKind KindOf(string path)
    {
        if (Native.Stat(path, out Native.FileStatus status) != 0) return LocalFileKind.Missing;
        return ModeKind(status.Mode);
    }

    /// <summary>The kind of the open file <paramref name="handle"/> (fstat(2)).</summary>
    public static LocalFileKind KindOf(Microsoft.Win32.SafeHandles.SafeFileHandle handle) =>
        Native.FStat(handle, out Native.FileStatus status) != 0 ? LocalFileKind.Missing : ModeKind(status.Mode);

    private static LocalFileKind ModeKind(int mode) => (mode & Native.S_IFMT) switch
    {
        Native.S_IFREG => LocalFileKind.Regular,
        Native.S_IFDIR => LocalFileKind.Directory,
        Native.S_IFIFO => LocalFileKind.Fifo,
        Native.S_IFCHR => LocalFileKind.CharacterDevice,
        Native.S_IFBLK => LocalFileKind.BlockDevice,
        Native.S_IFSOCK => LocalFileKind.Socket,
        _ => LocalFileKind.Other,
    };

    /// <summary>"a FIFO", "a directory", … for error messages.</summary>
    public static string Describe(LocalFileKind kind) => kind switch
    {
        LocalFileKind.Missing => "missing",
        LocalFileKind.Regular => "a regular file",
        LocalFileKind.Directory => "a directory",
        LocalFileKind.Fifo => "a FIFO (named pipe)",
        LocalFileKind.CharacterDevice => "a character device",
        LocalFileKind.BlockDevice => "a block device",
        LocalFileKind.Socket => "a socket",
        _ => "not a regular file",
    };

    /// <summary>
    /// The canonical absolute path of an existing <paramref name="path"/>: every symbolic link, "." and ".." resolved
    /// (realpath(3)); null when the path does not exist or cannot be resolved (a loop of links, a missing component).
    /// </summary>
    public static string? RealPath(string path)
    {
        nint resolved = Native.RealPath(path);
        if (resolved == 0) return null;
        try { return Marshal.PtrToStringUTF8(resolved); }
        finally { Native.Free(resolved); }
    }

    /// <summary>
    /// Resolves <paramref name="relative"/> against <paramref name="folder"/> and returns the real path of the regular
    /// file it names, or null with <paramref name="problem"/> saying why it is refused: an absolute path, a path that
    /// leaves the folder (by "..", or by a symbolic link anywhere along it, the file's own included), a missing file,
    /// or a file that is not regular (a directory, FIFO, device or socket).
    /// </summary>
    public static string? ResolveInside(string folder, string relative, out string problem)
    {
        problem = "";
        if (relative.Length == 0 || relative.Contains('\0'))
        {
            problem = "is empty or holds a NUL character";
            return null;
        }
        if (Path.IsPathRooted(relative))
        {
            problem = "is an absolute path, which may point outside the model's folder; it must be relative to it";
            return null;
        }
        string realFolder = RealPath(folder) ?? Path.GetFullPath(folder);
        string joined = Path.Combine(Path.GetFullPath(folder), relative);
        string lexical = Path.GetFullPath(joined);
        if (!IsInside(Path.GetFullPath(folder), lexical))
        {
            problem = "points outside the model's folder";
            return null;
        }
        string? real = RealPath(joined);
        if (real is null)
        {
            problem = $"was not found at '{lexical}' (or is a broken symbolic link)";
            return null;
        }
        if (!IsInside(realFolder, real))
        {
            problem = $"resolves through a symbolic link to '{real}', outside the model's folder";
            return null;
        }
        LocalFileKind kind = KindOf(real);
        if (kind != LocalFileKind.Regular)
        {
            problem = $"is {Describe(kind)}, not a regular file";
            return null;
        }
        return real;
    }

    private static bool IsInside(string folder, string path)
    {
        string root = Path.EndsInDirectorySeparator(folder) ? folder : folder + Path.DirectorySeparatorChar;
        return path.StartsWith(root, StringComparison.Ordinal);
    }

    /// <summary>
    /// Throws <see cref="FileNotFoundException"/> when <paramref name="path"/> does not exist and
    /// <see cref="InvalidDataException"/> naming <paramref name="what"/> when it is not a regular file.
    /// </summary>
    public static void RequireRegular(string path, string what)
    {
        LocalFileKind kind = KindOf(path);
        if (kind == LocalFileKind.Missing) throw new FileNotFoundException($"{path}: no such {what}", path);
        if (kind != LocalFileKind.Regular)
            throw new InvalidDataException(kind == LocalFileKind.Directory
                ? $"{path} is a directory, not a {what}; name the files in it"
                : $"{path} is {Describe(kind)}, not a regular file; refusing to read it as a {what}");
    }

    /// <summary>
    /// Reads the whole of <paramref name="path"/> if it is a regular file of at most <paramref name="maxBytes"/> bytes.
    /// A missing file throws <see cref="FileNotFoundException"/>; a directory, FIFO, device or socket, or a file over
    /// the limit, throws <see cref="InvalidDataException"/> naming <paramref name="what"/> and the path. Nothing is
    /// opened before the kind is known, so a FIFO cannot block the caller.
    /// </summary>
    public static byte[] ReadAllBytes(string path, long maxBytes, string what)
    {
        RequireRegular(path, what);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        // The path may have been replaced between the two checks: the open file is what counts.
        if (KindOf(handle) != LocalFileKind.Regular)
            throw new InvalidDataException($"{path} is not a regular file; refusing to read it as a {what}");
        long length = RandomAccess.GetLength(handle);
        if (length > maxBytes)
            throw new InvalidDataException($"{path} is {length} bytes, over the {maxBytes}-byte limit for a {what}");
        var bytes = new byte[length];
        int done = 0;
        while (done < bytes.Length)
        {
            int read = RandomAccess.Read(handle, bytes.AsSpan(done), done);
            if (read <= 0) throw new InvalidDataException($"{path} shrank while it was read (expected {length} bytes, got {done})");
            done += read;
        }
        return bytes;
    }

    /// <summary>
    /// Tries to take an exclusive advisory lock (flock(2)) on the folder <paramref name="directory"/> itself; null when
    /// another process holds it. Disposing the result releases it; so does the process's death, kill -9 included.
    /// </summary>
    public static IDisposable? TryLockDirectory(string directory)
    {
        nint fd = Native.Open(directory, Native.O_RDONLY | Native.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"{directory}: cannot open the folder to lock it (errno {Marshal.GetLastPInvokeError()})");
        if (Native.FLock(fd, Native.LOCK_EX | Native.LOCK_NB) == 0) return new DirectoryLock(fd);
        Native.Close(fd);
        return null;
    }

    /// <summary>
    /// Flushes <paramref name="directory"/>'s entries to disk (fsync(2) on the folder), so that renames into it survive
    /// a power cut; the files themselves must have been flushed before.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        nint fd = Native.Open(directory, Native.O_RDONLY | Native.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"{directory}: cannot open the folder to flush it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Native.FSync(fd) != 0) throw new IOException($"{directory}: fsync failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally { Native.Close(fd); }
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> to <paramref name="path"/> the crash-safe way: to PATH.partial, flushed to disk,
    /// renamed over PATH, and the folder flushed. A reader sees the old file or the new one, never part of one.
    /// </summary>
    public static void WriteAtomic(string path, ReadOnlySpan<byte> bytes)
    {
        string partial = path + ".partial";
        using (var s = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            s.Write(bytes);
            s.Flush(flushToDisk: true);
        }
        File.Move(partial, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>
    /// Maps <paramref name="path"/> read-only under the rules of <see cref="ReadAllBytes"/> (a regular file of at most
    /// <paramref name="maxBytes"/> bytes; an empty file maps to nothing). Its pages are the page cache's, not a copy on
    /// the heap: reading a large model this way costs no managed allocation, and the kernel can drop the pages under
    /// memory pressure. The one memory mapping of the project (checkpoints use it too).
    /// </summary>
    public static unsafe MappedBytes Map(string path, long maxBytes, string what)
    {
        RequireRegular(path, what);
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        System.IO.MemoryMappedFiles.MemoryMappedFile? map = null;
        try
        {
            long length = stream.Length;
            if (length > maxBytes)
                throw new InvalidDataException($"{path} is {length} bytes, over the {maxBytes}-byte limit for a {what}");
            if (length == 0)
            {
                stream.Dispose();
                return new MappedBytes(null, null, null, null, 0);
            }
            map = System.IO.MemoryMappedFiles.MemoryMappedFile.CreateFromFile(stream, null, 0,
                System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: true);
            var view = map.CreateViewAccessor(0, 0, System.IO.MemoryMappedFiles.MemoryMappedFileAccess.Read);
            byte* p = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            return new MappedBytes(map, view, stream, p + view.PointerOffset, length);
        }
        catch
        {
            map?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A read-only mapping of a whole file; spans handed out are valid until Dispose. <see cref="Read"/> copies bytes
    /// out through the same open file with pread(2) instead: no page faults on the mapping, which is how large tensors
    /// are read into buffers (a 4 KiB fault costs ~13 µs on a VM; a copy from the page cache a fraction of that).
    /// </summary>
    public sealed unsafe class MappedBytes : IDisposable
    {
        private readonly System.IO.MemoryMappedFiles.MemoryMappedFile? _map;
        private readonly System.IO.MemoryMappedFiles.MemoryMappedViewAccessor? _view;
        private readonly FileStream? _file;
        private byte* _pointer;

        internal MappedBytes(System.IO.MemoryMappedFiles.MemoryMappedFile? map, System.IO.MemoryMappedFiles.MemoryMappedViewAccessor? view, FileStream? file, byte* pointer, long length)
        {
            _map = map;
            _view = view;
            _file = file;
            _pointer = pointer;
            Length = length;
        }

        /// <summary>Copies <paramref name="destination"/>.Length bytes from <paramref name="offset"/> with pread(2), bounds-checked.</summary>
        public void Read(long offset, Span<byte> destination)
        {
            ObjectDisposedException.ThrowIf(_pointer == null && Length > 0, this);
            if (offset < 0 || offset > Length - destination.Length) throw new ArgumentOutOfRangeException(nameof(offset));
            while (!destination.IsEmpty)
            {
                int read = RandomAccess.Read(_file!.SafeFileHandle, destination, offset);
                if (read <= 0) throw new IOException($"{_file.Name} shrank while it was read (offset {offset})");
                destination = destination[read..];
                offset += read;
            }
        }

        public long Length { get; }

        /// <summary><paramref name="length"/> bytes from <paramref name="offset"/>, bounds-checked.</summary>
        public ReadOnlySpan<byte> GetSpan(long offset, int length)
        {
            ObjectDisposedException.ThrowIf(_pointer == null && Length > 0, this);
            if (offset < 0 || length < 0 || offset > Length - length) throw new ArgumentOutOfRangeException(nameof(offset));
            return new ReadOnlySpan<byte>(_pointer + offset, length);
        }

        /// <summary>The whole file, for files of at most 2^31 − 1 bytes.</summary>
        public ReadOnlySpan<byte> Span => GetSpan(0, checked((int)Length));

        public void Dispose()
        {
            if (_view is null || _pointer == null) return;
            _pointer = null;
            _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
            _map!.Dispose();
            _file!.Dispose();
        }
    }

    private sealed class DirectoryLock(nint fd) : IDisposable
    {
        private nint _fd = fd;

        public void Dispose()
        {
            nint fd = Interlocked.Exchange(ref _fd, -1);
            if (fd >= 0) Native.Close(fd); // closing the last descriptor releases the flock
        }
    }

    private static partial class Native
    {
        public const int S_IFMT = 0xF000, S_IFIFO = 0x1000, S_IFCHR = 0x2000, S_IFDIR = 0x4000, S_IFBLK = 0x6000, S_IFREG = 0x8000, S_IFSOCK = 0xC000;

        /// <summary>
        /// The portable stat record of .NET's own System.Native shim (the one System.IO uses): its first two fields,
        /// flags then st_mode, have kept this layout since .NET Core 1.0; the tail is padding so a longer record
        /// never overruns.
        /// </summary>
        [StructLayout(LayoutKind.Sequential)]
        public struct FileStatus
        {
            public int Flags;
            public int Mode;
            private unsafe fixed byte _rest[248];
        }

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Stat", StringMarshalling = StringMarshalling.Utf8)]
        public static partial int Stat(string path, out FileStatus status);

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_FStat")]
        public static partial int FStat(SafeHandle fd, out FileStatus status);

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_RealPath", StringMarshalling = StringMarshalling.Utf8)]
        public static partial nint RealPath(string path);

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Free")]
        public static partial void Free(nint pointer);

        // PAL values of System.Native (pal_io.h): open flags and flock operations, translated to the platform's there.
        public const int O_RDONLY = 0x0000, O_CLOEXEC = 0x0010;
        public const int LOCK_EX = 2, LOCK_NB = 4;

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial nint Open(string path, int flags, int mode);

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_FLock", SetLastError = true)]
        public static partial int FLock(nint fd, int operation);

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_FSync", SetLastError = true)]
        public static partial int FSync(nint fd);

        [LibraryImport("libSystem.Native", EntryPoint = "SystemNative_Close")]
        public static partial int Close(nint fd);
    }
}
