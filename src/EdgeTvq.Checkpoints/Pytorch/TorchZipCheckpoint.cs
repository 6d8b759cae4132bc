using System.IO.Compression;
using System.Text;
using EdgeTvq.Checkpoints.Storage;

namespace EdgeTvq.Checkpoints.Pytorch;

/// <summary>
/// Reads torch.save zip checkpoints (the default since PyTorch 1.6). Layout, all entries stored uncompressed
/// under one top-level folder named after the file:
/// <code>
/// archive/data.pkl     pickle (protocol 2) of the saved object; storages appear as persistent ids
///                      ('storage', torch.FloatStorage, key, location, numel)
/// archive/data/KEY     raw bytes of storage KEY: numel elements of the storage's dtype
/// archive/byteorder    "little" or "big" (absent in older files = little)
/// archive/version      serialization version
/// </code>
/// All referenced storages are read into memory; the zip is closed before Open returns.
/// </summary>
internal static class TorchZipCheckpoint
{
    private const string PickleEntry = "data.pkl";
    private const string StorageFolder = "data/";
    private const string ByteOrderEntry = "byteorder";
    /// <summary>data.pkl of a state dict is kilobytes to a few megabytes; 256 MiB leaves room for whole pickled modules.</summary>
    private const long MaxPickleBytes = 256L << 20;
    /// <summary>
    /// torch.save stores every entry uncompressed. A deflated entry may expand at most this many times (and only
    /// entries above <see cref="SmallEntryBytes"/> are held to it), so a small file cannot make the reader inflate gigabytes.
    /// </summary>
    private const long MaxExpansion = 64;
    private const long SmallEntryBytes = 1L << 20;
    private const string Resave = "Re-save it with torch.save(model.state_dict(), path).";

    public static ICheckpoint Open(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        ZipArchive zip;
        try
        {
            zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true);
        }
        catch (InvalidDataException e)
        {
            throw CheckpointFormatException.Create(path, null,
                $"is not a readable zip archive ({e.Message}), but torch.save checkpoints are zip files. The file is truncated or corrupt; copy or re-save it.", e);
        }
        using (zip)
        {
            return Read(path, zip);
        }
    }

    private static ICheckpoint Read(string path, ZipArchive zip)
    {
        // A name that appears twice would let one copy be read and the other (perhaps damaged, or different) ignored.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in zip.Entries)
        {
            if (!seen.Add(entry.FullName))
                throw CheckpointFormatException.Create(path, null, $"the zip holds two entries named '{entry.FullName}'; torch.save writes each once. The file is corrupt; {Resave}");
            if (entry.FullName.EndsWith('/') && (entry.Length != 0 || entry.CompressedLength > 2))
                throw CheckpointFormatException.Create(path, null, $"zip folder entry '{entry.FullName}' claims {entry.Length} bytes of content; a folder has none. The file is corrupt; {Resave}");
        }
        string prefix = FindArchivePrefix(path, zip);
        bool bigEndian = ReadByteOrder(path, zip, prefix);
        // The bookkeeping entries (version, .data/serialization_id, …) are not used, but a damaged one means a damaged
        // file: each is read once for its CRC-32 (and may not exceed 1 MiB). Storages are checked as they are read.
        foreach (var entry in zip.Entries)
            if (!entry.FullName.StartsWith(prefix + StorageFolder, StringComparison.Ordinal) && entry.FullName != prefix + PickleEntry
                && !entry.FullName.EndsWith('/'))
                ReadEntry(path, null, entry, SmallEntryBytes, entry.FullName); // over 1 MiB is refused: torch.save writes none so large
        byte[] pickle = ReadEntry(path, null, zip.GetEntry(prefix + PickleEntry)!, MaxPickleBytes, PickleEntry);

        var storages = new Dictionary<string, TorchStorage>(StringComparer.Ordinal);
        object? root = PickleMachine.Load(path, PickleEntry, pickle, pid => LoadStorage(path, pid, storages));
        List<(string Name, TorchTensor Tensor)> named = StateDictExtractor.Extract(path, root);

        var storageBytes = new Dictionary<TorchStorage, ArrayStorage>(ReferenceEqualityComparer.Instance);
        var tensors = new List<CheckpointTensor>(named.Count);
        foreach (var (name, t) in named)
        {
            if (!storageBytes.TryGetValue(t.Storage, out ArrayStorage? bytes))
            {
                bytes = LoadStorageBytes(path, name, zip, prefix, t.Storage, bigEndian);
                storageBytes[t.Storage] = bytes;
            }
            tensors.Add(TorchTensorBuilder.Build(path, name, t, bytes));
        }
        return new LoadedCheckpoint(path, "pytorch", tensors);
    }

    /// <summary>The folder holding data.pkl: exactly one top-level "name/data.pkl" entry.</summary>
    private static string FindArchivePrefix(string path, ZipArchive zip)
    {
        var candidates = zip.Entries
            .Select(e => e.FullName)
            .Where(n => n.EndsWith("/" + PickleEntry, StringComparison.Ordinal) && n.IndexOf('/') == n.Length - PickleEntry.Length - 1)
            .ToList();
        if (candidates.Count == 0)
            throw CheckpointFormatException.Create(path, null,
                $"is a zip archive without an '<archive>/{PickleEntry}' entry, so it is not a torch.save checkpoint (found: {string.Join(", ", zip.Entries.Take(5).Select(e => e.FullName))}). {Resave}");
        if (candidates.Count > 1)
            throw CheckpointFormatException.Create(path, null,
                $"holds {candidates.Count} {PickleEntry} entries ({string.Join(", ", candidates)}); expected one. {Resave}");
        return candidates[0][..^PickleEntry.Length];
    }

    private static bool ReadByteOrder(string path, ZipArchive zip, string prefix)
    {
        ZipArchiveEntry? entry = zip.GetEntry(prefix + ByteOrderEntry);
        if (entry is null) return false;
        string order = Encoding.ASCII.GetString(ReadEntry(path, null, entry, 64, ByteOrderEntry)).Trim();
        return order switch
        {
            "little" => false,
            "big" => true,
            _ => throw CheckpointFormatException.Create(path, null, $"{ByteOrderEntry} says '{order}', expected 'little' or 'big'. {Resave}"),
        };
    }

    private static object LoadStorage(string path, object? pid, Dictionary<string, TorchStorage> storages)
    {
        // Persistent id written by torch.save: ('storage', storage_type, key, location, numel).
        if (pid is not PickleTuple { Items: ["storage", PickleGlobal type, string key, var location, long numel] })
            throw CheckpointFormatException.Create(path, null,
                $"{PickleEntry} has a persistent id that is not ('storage', type, key, location, numel). {Resave}");
        TensorDType dtype = type.Kind switch
        {
            GlobalKind.StorageType => type.DType,
            GlobalKind.UntypedStorage => TensorDType.U8,
            _ => throw CheckpointFormatException.Create(path, null,
                $"{PickleEntry} names storage type '{type.FullName}'; expected a torch storage class such as torch.FloatStorage. {Resave}"),
        };
        if (numel < 0)
            throw CheckpointFormatException.Create(path, null, $"storage '{key}' declares {numel} elements. {Resave}");
        if (storages.TryGetValue(key, out TorchStorage? existing))
        {
            if (existing.DType != dtype || existing.Numel != numel)
                throw CheckpointFormatException.Create(path, null,
                    $"storage '{key}' is declared as {existing.Numel} x {existing.DType} and as {numel} x {dtype}. {Resave}");
            return existing;
        }
        var storage = new TorchStorage(key, dtype, location as string ?? "", numel);
        storages[key] = storage;
        return storage;
    }

    private static ArrayStorage LoadStorageBytes(string path, string tensorName, ZipArchive zip, string prefix, TorchStorage storage, bool bigEndian)
    {
        string entryName = prefix + StorageFolder + storage.Key;
        ZipArchiveEntry? entry = zip.GetEntry(entryName);
        if (entry is null)
            throw CheckpointFormatException.Create(path, tensorName,
                $"its storage entry '{entryName}' is missing from the archive. The file is incomplete; copy or re-save it.");
        int size = storage.DType.ElementSize();
        long expected;
        try
        {
            expected = checked(storage.Numel * size);
        }
        catch (OverflowException)
        {
            throw CheckpointFormatException.Create(path, tensorName, $"storage '{storage.Key}' declares {storage.Numel} elements, too many to address. {Resave}");
        }
        if (entry.Length != expected)
            throw CheckpointFormatException.Create(path, tensorName,
                $"storage '{entryName}' holds {entry.Length} bytes but data.pkl declares {storage.Numel} x {storage.DType} = {expected} bytes. The file is corrupt; re-save it.");
        byte[] bytes = ReadEntry(path, tensorName, entry, Array.MaxLength, entryName);
        if (bigEndian && size > 1)
            for (int i = 0; i < bytes.Length; i += size) Array.Reverse(bytes, i, size);
        return new ArrayStorage(bytes);
    }

    private static byte[] ReadEntry(string path, string? tensorName, ZipArchiveEntry entry, long maxBytes, string what)
    {
        if (entry.Length > maxBytes)
            throw CheckpointFormatException.Create(path, tensorName, $"zip entry '{what}' is {entry.Length} bytes, above the {maxBytes}-byte limit this reader supports.");
        if (entry.Length > SmallEntryBytes && entry.Length > entry.CompressedLength * MaxExpansion)
            throw CheckpointFormatException.Create(path, tensorName,
                $"zip entry '{what}' would expand from {entry.CompressedLength} to {entry.Length} bytes, over {MaxExpansion} times; torch.save stores tensors " +
                $"uncompressed, so this is not a torch.save checkpoint (or it is a zip bomb). {Resave}");
        var bytes = new byte[entry.Length];
        try
        {
            using Stream s = entry.Open();
            s.ReadExactly(bytes);
            if (s.ReadByte() != -1) throw new InvalidDataException("entry is longer than its declared size");
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw CheckpointFormatException.Create(path, tensorName,
                $"zip entry '{what}' cannot be read ({e.Message}). The file is truncated or corrupt; copy or re-save it.", e);
        }
        // Every entry carries the CRC-32 of its uncompressed bytes; torch.save writes it, so a mismatch is damage.
        uint crc = System.IO.Hashing.Crc32.HashToUInt32(bytes);
        if (crc != entry.Crc32)
            throw CheckpointFormatException.Create(path, tensorName,
                $"zip entry '{what}' fails its CRC-32 check (stored {entry.Crc32:x8}, computed {crc:x8}): its bytes are damaged. Copy the file again or re-save it.");
        return bytes;
    }
}
