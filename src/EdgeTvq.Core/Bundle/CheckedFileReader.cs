using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>
/// A bundle file read against its manifest: the header must name this bundle, scheme, quantizer, flags and
/// pretrained identity; records must come in the table's order with the table's names and shapes; at the end
/// the file's length and SHA-256 must equal the manifest entry. A task file made for another base is refused
/// here with a message that says so.
/// </summary>
public sealed class CheckedFileReader : IDisposable
{
    private readonly BundleFileReader _reader;
    private readonly FileEntry _entry;
    public string Path => _reader.Path;
    public FileHeader Header => _reader.Header;

    private CheckedFileReader(BundleFileReader reader, FileEntry entry)
    {
        _reader = reader;
        _entry = entry;
    }

    public static CheckedFileReader Open(string bundleDir, BundleManifest m, FileEntry entry, FileKind kind, uint expectedRecords)
    {
        string path = System.IO.Path.Combine(bundleDir, entry.File);
        if (!File.Exists(path))
            throw new BundleFormatException(path, "file listed in manifest.json is missing; copy the whole bundle folder again");
        var reader = BundleFileReader.Open(path);
        try
        {
            CheckHeader(reader.Header, m, kind, expectedRecords, path);
            return new CheckedFileReader(reader, entry);
        }
        catch
        {
            reader.Dispose();
            throw;
        }
    }

    private static void CheckHeader(FileHeader h, BundleManifest m, FileKind kind, uint expectedRecords, string path)
    {
        var o = ManifestIO.OptionsOf(m);
        if (h.Kind != kind)
            throw new BundleFormatException(path, $"is a {h.Kind} file but the manifest lists it as a {kind} file");
        if (!Convert.ToHexStringLower(h.PretrainedIdentity).Equals(m.Pretrained.Sha256, StringComparison.Ordinal))
            throw new BundleFormatException(path, $"was made for another pretrained model (base identity {Convert.ToHexStringLower(h.PretrainedIdentity)[..16]}…, this bundle's is {m.Pretrained.Sha256[..16]}…). Re-pack this task against this bundle's pretrained checkpoint with 'edgetvq-pack add-task'.");
        if (h.BundleId.ToString("N") != m.BundleId)
            throw new BundleFormatException(path, $"belongs to bundle {h.BundleId:N}, not to this bundle ({m.BundleId}); files from different bundles cannot be mixed. Use 'edgetvq-pack add-task' to add a task to this bundle.");
        if (h.Scheme != o.Scheme || h.Mode != o.Mode || h.Flags.HasFlag(FileFlags.ErrorCorrection) != (o.Scheme == Scheme.Rtvq && o.ErrorCorrection))
            throw new BundleFormatException(path, "header settings (scheme, quantizer or error correction) differ from manifest.json");
        if (h.RecordCount != expectedRecords)
            throw new BundleFormatException(path, $"holds {h.RecordCount} records, the manifest implies {expectedRecords}");
    }

    /// <summary>Next record, which must be <paramref name="name"/> with <paramref name="shape"/> and one of <paramref name="kinds"/>.</summary>
    public BundleRecord Next(string name, long[] shape, int? bits, params RecordKind[] kinds)
    {
        if (!_reader.MoveNext())
            throw new BundleFormatException(Path, $"ends before tensor '{name}'", name);
        var r = _reader.Current;
        if (r.Name != name)
            throw new BundleFormatException(Path, $"record {r.Index} is '{r.Name}', expected '{name}' (records must follow the manifest's tensor table)", name, r.Offset);
        if (r.Kind != RecordKind.Metadata && !r.Shape.SequenceEqual(shape))
            throw new BundleFormatException(Path, $"record {r.Index} has shape {r.ShapeText}, the manifest says [{string.Join(", ", shape)}]", name, r.Offset);
        if (Array.IndexOf(kinds, r.Kind) < 0)
            throw new BundleFormatException(Path, $"record {r.Index} is of kind {r.Kind}, expected {string.Join(" or ", kinds)}", name, r.Offset);
        if (r.Kind == RecordKind.Quantized && bits is not null && r.Bits != bits)
            throw new BundleFormatException(Path, $"record {r.Index} has {r.Bits}-bit codes, the manifest says {bits}", name, r.Offset);
        return r;
    }

    /// <summary>Record 0 of a task file: its metadata, whose task name must be the manifest entry's.</summary>
    public TaskMetadata ReadMetadata(TaskEntry task)
    {
        var record = Next(FormatConstants.MetadataRecordName, [], null, RecordKind.Metadata);
        var meta = ManifestIO.ParseMetadata(System.Buffers.BuffersExtensions.ToArray(record.Payload), Path);
        if (meta.Task != task.Name)
            throw new BundleFormatException(Path, $"holds task '{meta.Task}' but the manifest lists it as '{task.Name}'");
        return meta;
    }

    /// <summary>Checks trailer, end of file, and length/SHA-256 against the manifest.</summary>
    public FileReadResult Finish()
    {
        if (_reader.MoveNext())
            throw new BundleFormatException(Path, $"has more records than the manifest implies (record {_reader.Current.Index}, '{_reader.Current.Name}')");
        var result = _reader.Result!;
        if (result.Length != _entry.Bytes)
            throw new BundleFormatException(Path, $"is {result.Length} bytes, manifest.json says {_entry.Bytes}");
        if (result.Sha256 != _entry.Sha256)
            throw new BundleFormatException(Path, "SHA-256 differs from manifest.json: the file was replaced or damaged");
        return result;
    }

    public void Dispose() => _reader.Dispose();
}
