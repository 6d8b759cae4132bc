using System.IO.Hashing;
using System.Text;
using System.Text.Json;
using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>Loads (with validation) and atomically saves manifest.json.</summary>
public static class ManifestIO
{
    /// <summary>A manifest larger than this is refused unread (a 1,000,000-tensor table is about 150 MB).</summary>
    public const long MaxManifestBytes = 512L << 20;

    public static BundleManifest Load(string bundleDir)
    {
        var (bytes, path) = ReadBytes(bundleDir);
        return Parse(bytes, path);
    }

    /// <summary>The bytes of <paramref name="bundleDir"/>'s manifest.json, unparsed (a signature check reads them once, then <see cref="Parse"/>).</summary>
    public static (byte[] Bytes, string Path) ReadBytes(string bundleDir)
    {
        string path = Path.Combine(bundleDir, FormatConstants.ManifestFileName);
        if (!Directory.Exists(bundleDir))
            throw new BundleFormatException(bundleDir, "bundle directory does not exist; pass the folder that edgetvq-pack pack --out created");
        if (EdgeTvq.IO.LocalFile.KindOf(path) == EdgeTvq.IO.LocalFileKind.Missing)
            throw new BundleFormatException(path, "manifest.json is missing: this folder is not an EdgeTvq bundle (or the manifest was deleted)");
        try { return (EdgeTvq.IO.LocalFile.ReadAllBytes(path, MaxManifestBytes, "bundle manifest"), path); }
        catch (InvalidDataException e) { throw new BundleFormatException(path, e.Message, inner: e); }
    }

    /// <summary>Parses and validates manifest bytes read from <paramref name="path"/> (checksum, JSON, every rule of the spec).</summary>
    public static BundleManifest Parse(byte[] bytes, string path)
    {
        CheckChecksum(bytes, path);
        BundleManifest? m;
        try
        {
            m = JsonSerializer.Deserialize(bytes, BundleJsonContext.Default.BundleManifest);
        }
        catch (JsonException e)
        {
            throw new BundleFormatException(path, $"manifest is not valid JSON ({e.Message}); restore it from the packer's output", inner: e);
        }
        if (m is null) throw new BundleFormatException(path, "manifest is empty");
        Validate(m, path);
        return m;
    }

    public static void Validate(BundleManifest m, string path)
    {
        void Fail(string what) => throw new BundleFormatException(path, what);
        CheckNoNulls(m, path);
        if (m.Format != FormatConstants.ManifestFormatName) Fail($"\"format\" is '{m.Format}', expected '{FormatConstants.ManifestFormatName}'");
        if (m.FormatVersion is < FormatConstants.Version or > FormatConstants.LatestVersion)
            Fail($"formatVersion {m.FormatVersion} is not supported (this build reads {FormatConstants.Version} to {FormatConstants.LatestVersion}); use a newer edgetvq");
        if (m.FormatVersion < RequiredVersion(m))
            Fail(m.Tensors.FirstOrDefault(t => t is { HasGroups: true }) is { } grouped
                ? $"formatVersion {m.FormatVersion} cannot hold grouped records (tensor '{grouped.Name}'); they need version {FormatConstants.VersionGroups}"
                : m.GroupMode is not null ? $"formatVersion {m.FormatVersion} cannot hold groupMode; it needs version {FormatConstants.VersionGroups}"
                : m.Tensors.FirstOrDefault(t => t is { HasOwnWidths: true }) is { } w
                ? $"formatVersion {m.FormatVersion} cannot hold per-tensor widths (tensor '{w.Name}'); they need version {FormatConstants.VersionWidths}"
                : $"formatVersion {m.FormatVersion} cannot hold own blobs (task '{m.Tasks.First(t => t.OwnBlobs is { Count: > 0 }).Name}'); they need version {FormatConstants.VersionBlobs}");
        if (m.BundleId.Length != 32 || !Guid.TryParseExact(m.BundleId, "N", out _)) Fail($"bundleId '{m.BundleId}' is not 32 hex digits");
        Scheme scheme = default;
        try
        {
            scheme = PackOptions.ParseScheme(m.Scheme);
            PackOptions.ParseMode(m.Quantizer);
            TensorPolicy.Parse(m.Policy);
            OptionsOf(m).Validate();
        }
        catch (ArgumentException e) { Fail($"inconsistent settings: {e.Message}"); }
        if (m.Pretrained.Sha256.Length != 64) Fail("pretrained.sha256 must be 64 hex digits");
        if ((scheme == Scheme.Rtvq) != (m.Base is not null)) Fail(scheme == Scheme.Rtvq ? "an rtvq bundle needs a \"base\" entry" : "only rtvq bundles have a \"base\" entry");
        string? previous = null;
        foreach (var t in m.Tensors)
        {
            if (previous is not null && Utf8Order.Instance.Compare(previous, t.Name) >= 0) Fail($"tensor table is not sorted by name or has duplicates at '{t.Name}'");
            previous = t.Name;
            CheckShape(t.Name, t.Shape, path);
            try { TensorPolicy.FromText(t.Storage); } catch (FormatException e) { Fail(e.Message); }
            if (t.HasOwnWidths) CheckOwnWidths(t, scheme, path);
            if (t.HasGroups) CheckOwnGroups(t, scheme, path);
        }
        CheckGrouping(m, scheme, path);
        var tableNames = m.Tensors.Select(t => t.Name).ToHashSet(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var files = new HashSet<string> { FormatConstants.ManifestFileName };
        if (m.Base is not null)
        {
            if (m.Base.File != FormatConstants.BaseFileName) Fail($"base file must be named '{FormatConstants.BaseFileName}', not '{m.Base.File}'");
            files.Add(m.Base.File);
        }
        foreach (var t in m.Tasks)
        {
            if (!BundleNames.IsValidTaskName(t.Name)) Fail($"task name '{t.Name}' is invalid");
            if (!names.Add(t.Name)) Fail($"task '{t.Name}' appears twice (task names must differ in more than letter case)");
            if (t.File != BundleNames.TaskFileName(t.Name)) Fail($"task '{t.Name}': file must be named '{BundleNames.TaskFileName(t.Name)}', not '{t.File}'");
            string? previousOwn = null;
            foreach (var o in t.OwnTensors)
            {
                if (tableNames.Contains(o.Name)) Fail($"task '{t.Name}': own tensor '{o.Name}' is also in the tensor table");
                if (previousOwn is not null && Utf8Order.Instance.Compare(previousOwn, o.Name) >= 0) Fail($"task '{t.Name}': own tensors are not sorted or repeat at '{o.Name}'");
                previousOwn = o.Name;
                CheckShape(o.Name, o.Shape, path);
            }
            string? previousBlob = null;
            foreach (var b in t.OwnBlobs ?? [])
            {
                if (!BundleNames.IsValidTaskName(b.Name)) Fail($"task '{t.Name}': own blob name '{b.Name}' is invalid (1-64 characters of letters, digits, '_', '.', '-')");
                if (previousBlob is not null && Utf8Order.Instance.Compare(previousBlob, b.Name) >= 0) Fail($"task '{t.Name}': own blobs are not sorted or repeat at '{b.Name}'");
                if (t.OwnTensors.Any(o => o.Name == b.Name)) Fail($"task '{t.Name}': '{b.Name}' is both an own tensor and an own blob");
                if (b.Bytes is < 0 or > FormatConstants.MaxPayloadBytes) Fail($"task '{t.Name}': own blob '{b.Name}' has {b.Bytes} bytes; allowed 0..{FormatConstants.MaxPayloadBytes}");
                previousBlob = b.Name;
            }
            if (!files.Add(t.File)) Fail($"task '{t.Name}': file '{t.File}' is used twice");
        }
        // Recipes are checked against the bundle when used (a recipe of a method this build does not know must not
        // make the whole bundle unreadable); here only their names.
        foreach (var name in m.Recipes?.Keys ?? Enumerable.Empty<string>())
            if (!BundleNames.IsValidTaskName(name)) Fail($"recipe name '{name}' is invalid (1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit)");
        if (m.DefaultRecipe is { } defaultRecipe && (m.Recipes is null || !m.Recipes.ContainsKey(defaultRecipe)))
            Fail($"defaultRecipe '{defaultRecipe}' names no recipe of \"recipes\" ({(m.Recipes is { Count: > 0 } r ? "it has: " + string.Join(", ", r.Keys) : "it has none")})");
    }

    /// <summary>
    /// JSON <c>null</c> where the format requires a value (a string, an object, an array or an array element) is
    /// refused with the field's JSON path; the deserializer itself lets null through into non-nullable members.
    /// </summary>
    private static void CheckNoNulls(BundleManifest m, string path)
    {
        void Need(object? value, string field)
        {
            if (value is null)
                throw new BundleFormatException(path,
                    $"manifest field \"{field}\" is null; the format requires a value there. The manifest was edited by hand or damaged; restore it from the packer's output");
        }
        Need(m.Format, "format");
        Need(m.BundleId, "bundleId");
        Need(m.Scheme, "scheme");
        Need(m.Quantizer, "quantizer");
        Need(m.Policy, "policy");
        Need(m.Checksum, "checksum");
        Need(m.Pretrained, "pretrained");
        Need(m.Pretrained.Sha256, "pretrained.sha256");
        Need(m.Pretrained.Source, "pretrained.source");
        Need(m.Pretrained.SourcePath, "pretrained.sourcePath");
        Need(m.Tensors, "tensors");
        for (int i = 0; i < m.Tensors.Count; i++)
        {
            var t = m.Tensors[i];
            Need(t, $"tensors[{i}]");
            Need(t.Name, $"tensors[{i}].name");
            Need(t.Shape, $"tensors[{i}].shape");
            Need(t.Dtype, $"tensors[{i}].dtype");
            Need(t.Storage, $"tensors[{i}].storage");
        }
        if (m.Base is { } b) CheckFileEntry(b, "base", Need);
        Need(m.Tasks, "tasks");
        for (int i = 0; i < m.Tasks.Count; i++)
        {
            var t = m.Tasks[i];
            Need(t, $"tasks[{i}]");
            Need(t.Name, $"tasks[{i}].name");
            Need(t.Source, $"tasks[{i}].source");
            CheckFileEntry(t, $"tasks[{i}]", Need);
            Need(t.OwnTensors, $"tasks[{i}].ownTensors");
            for (int j = 0; j < t.OwnTensors.Count; j++)
            {
                Need(t.OwnTensors[j], $"tasks[{i}].ownTensors[{j}]");
                Need(t.OwnTensors[j].Name, $"tasks[{i}].ownTensors[{j}].name");
                Need(t.OwnTensors[j].Shape, $"tasks[{i}].ownTensors[{j}].shape");
            }
            for (int j = 0; j < (t.OwnBlobs?.Count ?? 0); j++)
            {
                Need(t.OwnBlobs![j], $"tasks[{i}].ownBlobs[{j}]");
                Need(t.OwnBlobs[j].Name, $"tasks[{i}].ownBlobs[{j}].name");
            }
        }
        foreach (var (name, recipe) in m.Recipes ?? [])
            Need(recipe, $"recipes.{name}");
    }

    private static void CheckFileEntry(FileEntry f, string field, Action<object?, string> need)
    {
        need(f.File, field + ".file");
        need(f.Sha256, field + ".sha256");
    }

    /// <summary>
    /// Version 3: a tensor's own widths. Only quantized tensors have them; fq/tvq tensors may have <c>bits</c>, rtvq
    /// tensors <c>baseBits</c> and <c>offsetBits</c> (either or both; a missing one is the manifest's); each 1–8.
    /// </summary>
    private static void CheckOwnWidths(TensorEntry t, Scheme scheme, string path)
    {
        void Fail(string what) => throw new BundleFormatException(path, $"tensor '{t.Name}': {what}", t.Name);
        if (t.Storage != "quantized") Fail($"is stored '{t.Storage}' but has a width of its own; only quantized tensors have one");
        if (scheme == Scheme.Rtvq && t.Bits is not null) Fail("an rtvq tensor has baseBits/offsetBits, not bits");
        if (scheme != Scheme.Rtvq && (t.BaseBits is not null || t.OffsetBits is not null)) Fail("baseBits/offsetBits are for rtvq bundles; this tensor may have bits");
        foreach (var (name, b) in new[] { ("bits", t.Bits), ("baseBits", t.BaseBits), ("offsetBits", t.OffsetBits) })
            if (b is < 1 or > 8) Fail($"{name} is {b}; widths are 1-8");
    }

    /// <summary>
    /// Version 4: a tensor's group sizes. Only quantized tensors with at least one element have them; fq/tvq tensors may
    /// have <c>group</c>, rtvq tensors <c>baseGroup</c> and <c>offsetGroup</c> (either or both); each ≥ 1.
    /// </summary>
    private static void CheckOwnGroups(TensorEntry t, Scheme scheme, string path)
    {
        void Fail(string what) => throw new BundleFormatException(path, $"tensor '{t.Name}': {what}", t.Name);
        if (t.Storage != "quantized" || t.ElementCount == 0) Fail($"is stored '{t.Storage}' with {t.ElementCount} elements but has a group size; only non-empty quantized tensors are grouped");
        if (scheme == Scheme.Rtvq && t.Group is not null) Fail("an rtvq tensor has baseGroup/offsetGroup, not group");
        if (scheme != Scheme.Rtvq && (t.BaseGroup is not null || t.OffsetGroup is not null)) Fail("baseGroup/offsetGroup are for rtvq bundles; this tensor may have group");
        foreach (var (name, g) in new[] { ("group", t.Group), ("baseGroup", t.BaseGroup), ("offsetGroup", t.OffsetGroup) })
            if (g is < 1) Fail($"{name} is {g}; a group holds at least one element");
    }

    /// <summary>
    /// Version 4, bundle-wide: grouped records use the default quantizer; <c>groupMode</c> is absent or "sign", and
    /// "sign" (BitDelta) means tvq whose every grouped tensor has 1-bit task records.
    /// </summary>
    private static void CheckGrouping(BundleManifest m, Scheme scheme, string path)
    {
        void Fail(string what) => throw new BundleFormatException(path, what);
        bool grouped = m.Tensors.Any(t => t.HasGroups);
        if (grouped && m.Quantizer != "default") Fail($"grouped records (tensor '{m.Tensors.First(t => t.HasGroups).Name}') need quantizer 'default', the manifest says '{m.Quantizer}'");
        if (m.GroupMode is null) return;
        if (m.GroupMode != "sign") Fail($"groupMode '{m.GroupMode}' is unknown; the only value is \"sign\" (BitDelta), absent means affine groups");
        if (scheme != Scheme.Tvq) Fail($"groupMode \"sign\" (BitDelta) is for tvq bundles, this one is {m.Scheme}");
        if (m.Tensors.FirstOrDefault(t => t.HasGroups && (t.Bits ?? m.Bits) != 1) is { } wide)
            Fail($"tensor '{wide.Name}': groupMode \"sign\" (BitDelta) needs 1-bit codes, the tensor's width is {wide.Bits ?? m.Bits}");
    }

    /// <summary>Rank ≤ 8, no negative dimension, element count ≤ 2^31 − 1 (checked arithmetic).</summary>
    private static void CheckShape(string name, long[] shape, string path)
    {
        if (shape.Length > FormatConstants.MaxRank) throw new BundleFormatException(path, $"tensor '{name}' has rank {shape.Length}; at most {FormatConstants.MaxRank}", name);
        long count = 1;
        foreach (long d in shape)
        {
            if (d < 0 || d > FormatConstants.MaxElements || (count = count * d) > FormatConstants.MaxElements)
                throw new BundleFormatException(path, $"tensor '{name}' has shape [{string.Join(", ", shape)}]: dimensions must be ≥ 0 and the element count ≤ {FormatConstants.MaxElements}", name);
        }
    }

    public static PackOptions OptionsOf(BundleManifest m) => new()
    {
        Scheme = PackOptions.ParseScheme(m.Scheme),
        Bits = m.Bits,
        BaseBits = m.BaseBits,
        OffsetBits = m.OffsetBits,
        ErrorCorrection = m.ErrorCorrection,
        Mode = PackOptions.ParseMode(m.Quantizer),
        Policy = TensorPolicy.Parse(m.Policy),
        Signs = m.GroupMode == "sign",
    };

    public const string ChecksumPlaceholder = "0000000000000000";
    private static readonly byte[] ChecksumKey = Encoding.ASCII.GetBytes("\"checksum\": \"");

    /// <summary>
    /// The lowest format version that holds everything in <paramref name="m"/>: 4 when a tensor entry is grouped, else 3
    /// when one has widths of its own, else 2 when a task has own blobs, else 1. Writers stamp it (<see cref="Serialize"/>), so a bundle that
    /// uses nothing newer stays readable by older builds.
    /// </summary>
    public static ushort RequiredVersion(BundleManifest m) =>
        HasGroups(m.Tensors) || m.GroupMode is not null ? FormatConstants.VersionGroups
        : HasOwnWidths(m.Tensors) ? FormatConstants.VersionWidths
        : m.Tasks.Any(t => t is { OwnBlobs.Count: > 0 }) ? FormatConstants.VersionBlobs : FormatConstants.Version;

    /// <summary>Whether any table entry is grouped (format version 4).</summary>
    public static bool HasGroups(IReadOnlyList<TensorEntry> table) => table.Any(e => e is { HasGroups: true });

    /// <summary>Whether any table entry has widths of its own (format version 3).</summary>
    public static bool HasOwnWidths(IReadOnlyList<TensorEntry> table) => table.Any(e => e is { HasOwnWidths: true });

    /// <summary>
    /// The version a binary file of the bundle with table <paramref name="table"/> is written in: 4 (base and task
    /// files alike) when the table is grouped, else 3 when it has per-tensor widths, else 2 for a task file with own blobs, else 1.
    /// </summary>
    public static ushort FileVersion(IReadOnlyList<TensorEntry> table, bool hasBlobs) =>
        HasGroups(table) ? FormatConstants.VersionGroups
        : HasOwnWidths(table) ? FormatConstants.VersionWidths : hasBlobs ? FormatConstants.VersionBlobs : FormatConstants.Version;

    /// <summary>The version of task <paramref name="t"/>'s file in bundle <paramref name="m"/>.</summary>
    public static ushort TaskFileVersion(BundleManifest m, TaskEntry t) => FileVersion(m.Tensors, t.OwnBlobs is { Count: > 0 });

    /// <summary>The version of the base file of bundle <paramref name="m"/>.</summary>
    public static ushort BaseFileVersion(BundleManifest m) => FileVersion(m.Tensors, hasBlobs: false);

    /// <summary>Serializes the manifest with its checksum filled in and its format version the lowest that holds it.</summary>
    public static byte[] Serialize(BundleManifest m)
    {
        m.FormatVersion = RequiredVersion(m);
        m.Checksum = ChecksumPlaceholder;
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(m, BundleJsonContext.Default.BundleManifest);
        int at = ChecksumPosition(bytes) ?? throw new InvalidOperationException("manifest serializer did not emit the checksum member last");
        string hex = XxHash64.HashToUInt64(bytes).ToString("x16");
        Encoding.ASCII.GetBytes(hex, bytes.AsSpan(at, 16));
        m.Checksum = hex;
        return bytes;
    }

    /// <summary>Offset of the 16 checksum digits: after the last <c>"checksum": "</c>, which must be the final member.</summary>
    private static int? ChecksumPosition(ReadOnlySpan<byte> bytes)
    {
        int key = bytes.LastIndexOf(ChecksumKey);
        if (key < 0) return null;
        int at = key + ChecksumKey.Length;
        if (at + 16 >= bytes.Length || bytes[at + 16] != (byte)'"') return null;
        foreach (byte b in bytes[(at + 17)..])
            if (b is not ((byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or (byte)'}')) return null;
        return at;
    }

    private static void CheckChecksum(byte[] bytes, string path)
    {
        int at = ChecksumPosition(bytes)
            ?? throw new BundleFormatException(path, "manifest has no \"checksum\" as its last member: it is truncated or was edited by hand; restore it from the packer's output");
        string stored = Encoding.ASCII.GetString(bytes, at, 16);
        var copy = (byte[])bytes.Clone();
        Encoding.ASCII.GetBytes(ChecksumPlaceholder, copy.AsSpan(at, 16));
        if (XxHash64.HashToUInt64(copy).ToString("x16") != stored)
            throw new BundleFormatException(path, "manifest checksum mismatch: the manifest is damaged or was edited by hand; restore it from the packer's output");
    }

    /// <summary>Writes manifest.json.partial, flushes it, then renames it over manifest.json.</summary>
    public static void Save(BundleManifest m, string bundleDir)
    {
        string path = Path.Combine(bundleDir, FormatConstants.ManifestFileName);
        string partial = path + ".partial";
        byte[] bytes = Serialize(m);
        using (var s = new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            s.Write(bytes);
            s.Flush(flushToDisk: true);
        }
        File.Move(partial, path, overwrite: true);
    }

    public static byte[] SerializeMetadata(TaskMetadata meta) => JsonSerializer.SerializeToUtf8Bytes(meta, BundleJsonContext.Default.TaskMetadata);

    public static TaskMetadata ParseMetadata(ReadOnlySpan<byte> json, string file)
    {
        try
        {
            return JsonSerializer.Deserialize(json, BundleJsonContext.Default.TaskMetadata)
                ?? throw new BundleFormatException(file, "metadata record is empty");
        }
        catch (JsonException e)
        {
            throw new BundleFormatException(file, $"metadata record is not valid JSON ({e.Message})", inner: e);
        }
    }

    public static QuantizeConfig LoadQuantizeConfig(string path)
    {
        try
        {
            using var s = File.OpenRead(path);
            return JsonSerializer.Deserialize(s, BundleJsonContext.Default.QuantizeConfig) ?? new QuantizeConfig();
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{Path.GetFileName(path)}: not a valid quantize_config.json ({e.Message})", e);
        }
    }
}
