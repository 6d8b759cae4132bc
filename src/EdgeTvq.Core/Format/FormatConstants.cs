namespace EdgeTvq.Format;

/// <summary>Constants of the bundle format (versions 1 to 4); docs/bundle-format.md is the specification they mirror.</summary>
public static class FormatConstants
{
    /// <summary>
    /// The oldest version: what a file or manifest without version-2 content is written as, so bundles that use
    /// nothing newer stay byte-identical to what version-1 readers read.
    /// </summary>
    public const ushort Version = 1;

    /// <summary>Version 2 adds own-blob records (kind 6, e.g. a task's ONNX head graph) and the manifest's <c>ownBlobs</c>.</summary>
    public const ushort VersionBlobs = 2;

    /// <summary>
    /// Version 3 adds per-tensor code widths: the manifest's tensor entries may carry <c>bits</c> (fq/tvq) or
    /// <c>baseBits</c>/<c>offsetBits</c> (rtvq), and a quantized record's width is its tensor's (budget allocation).
    /// </summary>
    public const ushort VersionWidths = 3;

    /// <summary>
    /// Version 4 adds grouped records (kind 7: one scale and zero point per group of G elements, or BitDelta's
    /// α·sign) and the manifest's per-tensor <c>group</c>/<c>baseGroup</c>/<c>offsetGroup</c> and <c>groupMode</c>.
    /// </summary>
    public const ushort VersionGroups = 4;

    /// <summary>The newest version this build reads and writes.</summary>
    public const ushort LatestVersion = VersionGroups;

    /// <summary>File magic: 0x89 'T' 'V' 'Q' CR LF 0x1A LF (a PNG-style signature that catches text-mode damage).</summary>
    public static ReadOnlySpan<byte> Magic => [0x89, (byte)'T', (byte)'V', (byte)'Q', 0x0D, 0x0A, 0x1A, 0x0A];

    /// <summary>Trailer magic: 'T' 'V' 'Q' 'E' 'N' 'D' CR LF.</summary>
    public static ReadOnlySpan<byte> TrailerMagic => [(byte)'T', (byte)'V', (byte)'Q', (byte)'E', (byte)'N', (byte)'D', 0x0D, 0x0A];

    public const int HeaderSize = 80;
    public const int RecordFixedSize = 16;
    public const int RecordChecksumSize = 8;
    public const int TrailerSize = 24;

    public const int MaxRank = 8;
    public const int MaxNameBytes = 1024;
    /// <summary>One record must fit in memory on a 4 GB device: payloads are capped at 2^31 − 1 bytes.</summary>
    public const long MaxPayloadBytes = int.MaxValue;
    public const uint MaxRecords = 1_000_000;
    /// <summary>Elements of one tensor, for every record kind (a constant record included).</summary>
    public const long MaxElements = int.MaxValue;

    public const string ManifestFileName = "manifest.json";
    public const string BaseFileName = "base.tvqb";
    public const string TaskFileExtension = ".tvqt";
    public const string MetadataRecordName = "__metadata__";
    public const string ManifestFormatName = "edgetvq-bundle";
}

/// <summary>Header byte 10.</summary>
public enum FileKind : byte { Base = 1, Task = 2 }

/// <summary>Header byte 11; also the manifest's "scheme".</summary>
public enum Scheme : byte
{
    /// <summary>FQ: quantize the fine-tuned weights; τ̂ = dequant(θ_t) − θ_pre.</summary>
    Fq = 1,
    /// <summary>TVQ: quantize τ_t = θ_t − θ_pre.</summary>
    Tvq = 2,
    /// <summary>RTVQ (Algorithm 1): shared base at b_b bits plus per-task offsets at b_o bits.</summary>
    Rtvq = 3,
}

/// <summary>Header byte 13.</summary>
[Flags]
public enum FileFlags : byte
{
    None = 0,
    /// <summary>RTVQ offsets were computed against dequant(base) + θ_pre (Eq. 6).</summary>
    ErrorCorrection = 1,
}

/// <summary>Record byte 0.</summary>
public enum RecordKind : byte
{
    /// <summary>Packed codes with scale and zero point (payload: f32 scale, f32 zero point, codes).</summary>
    Quantized = 1,
    /// <summary>Every element equals one value (payload: f32).</summary>
    Constant = 2,
    /// <summary>A task-vector (or base-vector) tensor kept in float32 (payload: n × f32).</summary>
    Float32 = 3,
    /// <summary>A task-specific tensor with no pretrained counterpart, e.g. a classification head: its value, not a delta (n × f32).</summary>
    OwnFloat32 = 4,
    /// <summary>Task metadata as UTF-8 JSON (task files only, always record 0).</summary>
    Metadata = 5,
    /// <summary>
    /// Version 2: a task-specific opaque byte string, e.g. the task's head as an ONNX graph (rank 1, its one dimension
    /// the byte count; payload: the bytes).
    /// </summary>
    OwnBlob = 6,
    /// <summary>
    /// Version 4: packed codes with one scale (and zero point) per group of G consecutive elements (payload: u8 mode,
    /// 3 reserved bytes, u32 G, M × f32 scales, M × f32 zero points unless the mode is sign, codes; M = ⌈E/G⌉).
    /// </summary>
    Grouped = 7,
}
