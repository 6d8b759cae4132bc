using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeTvq.Bundle;

/// <summary>
/// manifest.json, field by field as docs/bundle-format.md specifies. Serialized with source-generated
/// System.Text.Json (AOT-clean).
/// </summary>
public sealed class BundleManifest
{
    public string Format { get; set; } = Format_.Name;
    /// <summary>1; 2 when any task has own blobs; 3 when any tensor entry has its own widths (<see cref="ManifestIO.RequiredVersion"/>; writers set it, readers check it).</summary>
    public int FormatVersion { get; set; } = EdgeTvq.Format.FormatConstants.Version;
    /// <summary>32 lowercase hex digits; the same 16 bytes are in every binary file's header.</summary>
    public string BundleId { get; set; } = "";
    /// <summary>"fq", "tvq" or "rtvq".</summary>
    public string Scheme { get; set; } = "";
    /// <summary>"default" or "reference".</summary>
    public string Quantizer { get; set; } = "default";
    /// <summary>Code width of FQ/TVQ task files; null for RTVQ.</summary>
    public int? Bits { get; set; }
    /// <summary>RTVQ base width b_b; null otherwise.</summary>
    public int? BaseBits { get; set; }
    /// <summary>RTVQ offset width b_o; null otherwise.</summary>
    public int? OffsetBits { get; set; }
    public bool ErrorCorrection { get; set; }
    /// <summary>
    /// Format version 4: "sign" when the grouped records are BitDelta's α·sign (tvq at 1 bit); absent when they are
    /// affine or there are none, so older manifests stay byte-identical.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? GroupMode { get; set; }
    /// <summary>Tensor policy that chose the storage of each tensor: "default", "authors" or "all".</summary>
    public string Policy { get; set; } = "default";
    public PretrainedEntry Pretrained { get; set; } = new();
    /// <summary>Every pretrained tensor, sorted by ordinal name: the canonical record order.</summary>
    public List<TensorEntry> Tensors { get; set; } = [];
    /// <summary>The RTVQ base file; null for FQ/TVQ.</summary>
    public FileEntry? Base { get; set; }
    public List<TaskEntry> Tasks { get; set; } = [];
    /// <summary>
    /// Named merge recipes (optional; absent in bundles that have none, so older manifests stay byte-identical).
    /// Edited with <c>edgetvq-pack recipe set|remove</c>; covered by the checksum like every other member.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public Dictionary<string, EdgeTvq.Merging.RecipeDocument>? Recipes { get; set; }
    /// <summary>
    /// The name of the recipe in <see cref="Recipes"/> that <c>edgetvq run|serve</c> use when no --merge, --recipe or
    /// --individual is given (optional; absent, and so byte-identical to older manifests, unless set, e.g. by
    /// <c>edgetvq-pack tune</c>). Must name a recipe of <see cref="Recipes"/>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? DefaultRecipe { get; set; }
    /// <summary>
    /// Always the last member: 16 lowercase hex digits of the xxHash64 (seed 0) of the manifest file's bytes with
    /// these 16 digits replaced by ASCII '0'. Written and checked by <see cref="ManifestIO"/>.
    /// </summary>
    public string Checksum { get; set; } = ManifestIO.ChecksumPlaceholder;

    private static class Format_ { public const string Name = EdgeTvq.Format.FormatConstants.ManifestFormatName; }
}

public sealed class PretrainedEntry
{
    /// <summary>SHA-256 (hex) of the pretrained weights as <see cref="PretrainedIdentity"/> defines it.</summary>
    public string Sha256 { get; set; } = "";
    /// <summary>File name the pretrained weights were read from (informational; add-task looks here first).</summary>
    public string Source { get; set; } = "";
    /// <summary>Absolute path on the packing machine; add-task uses it when --pretrained is not given (identity is still checked).</summary>
    public string SourcePath { get; set; } = "";
    public int TensorCount { get; set; }
    public long ParameterCount { get; set; }
    public long QuantizedParameterCount { get; set; }
}

public sealed class TensorEntry
{
    public string Name { get; set; } = "";
    public long[] Shape { get; set; } = [];
    /// <summary>dtype in the pretrained checkpoint: "F32", "F16", "BF16", … (values are processed as float32).</summary>
    public string Dtype { get; set; } = "F32";
    /// <summary>"quantized", "full" (float32 task vector) or "skipped" (not floating; not part of task vectors).</summary>
    public string Storage { get; set; } = "";
    /// <summary>
    /// Format version 3, fq/tvq, quantized tensors only: this tensor's code width in every task file, overriding the
    /// manifest's <c>bits</c> (written by the budget allocator). Absent in older bundles, so they stay byte-identical.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Bits { get; set; }
    /// <summary>Format version 3, rtvq, quantized tensors only: this tensor's base width, overriding <c>baseBits</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? BaseBits { get; set; }
    /// <summary>Format version 3, rtvq, quantized tensors only: this tensor's offset width, overriding <c>offsetBits</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? OffsetBits { get; set; }

    /// <summary>
    /// Format version 4, fq/tvq, quantized tensors only: the group size G of this tensor's grouped records (kind 7) in
    /// every task file: one scale per G consecutive elements (G = the row length for one per output row). Absent: kind 1.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? Group { get; set; }
    /// <summary>Format version 4, rtvq, quantized tensors only: the group size of this tensor's base record.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? BaseGroup { get; set; }
    /// <summary>Format version 4, rtvq, quantized tensors only: the group size of this tensor's offset records.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? OffsetGroup { get; set; }

    /// <summary>Whether this entry's records are grouped (format version 4).</summary>
    [JsonIgnore] public bool HasGroups => Group is not null || BaseGroup is not null || OffsetGroup is not null;

    /// <summary>Whether this entry carries a width of its own (format version 3).</summary>
    [JsonIgnore] public bool HasOwnWidths => Bits is not null || BaseBits is not null || OffsetBits is not null;

    [JsonIgnore] public long ElementCount => Shape.Aggregate(1L, (a, d) => checked(a * d));
}

public class FileEntry
{
    /// <summary>File name inside the bundle directory (no directory part).</summary>
    public string File { get; set; } = "";
    public long Bytes { get; set; }
    public string Sha256 { get; set; } = "";
}

public sealed class TaskEntry : FileEntry
{
    public string Name { get; set; } = "";
    /// <summary>File name of the fine-tuned checkpoint (informational).</summary>
    public string Source { get; set; } = "";
    /// <summary>Task-specific tensors stored unquantized as values (e.g. a classification head).</summary>
    public List<OwnTensorEntry> OwnTensors { get; set; } = [];
    /// <summary>
    /// Format version 2: the task's own opaque byte strings (e.g. <c>head.onnx</c>, its head as an ONNX graph), stored
    /// after its own tensors. Absent (null) when the task has none, so manifests without them stay version 1.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<OwnBlobEntry>? OwnBlobs { get; set; }
    public TaskStats? Stats { get; set; }

}

/// <summary>A task's own blob (format version 2): its name and byte count.</summary>
public sealed class OwnBlobEntry
{
    public string Name { get; set; } = "";
    public long Bytes { get; set; }

    /// <summary>The blob a task's head graph is stored under.</summary>
    public const string HeadOnnx = "head.onnx";
}

public sealed class OwnTensorEntry
{
    public string Name { get; set; } = "";
    public long[] Shape { get; set; } = [];
}

/// <summary>Measured by the packer while it still had the exact task vector.</summary>
public sealed class TaskStats
{
    /// <summary>‖τ − τ̂‖₂ over the quantized tensors divided by their parameter count (paper Fig. 4).</summary>
    public double QuantizationError { get; set; }
    /// <summary>Fraction of exact zeros in τ over the quantized tensors, before quantization (paper Fig. A).</summary>
    public double SparsityBefore { get; set; }
    /// <summary>Fraction of exact zeros in τ̂ over the quantized tensors.</summary>
    public double SparsityAfter { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never, AllowTrailingCommas = false, ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(BundleManifest))]
[JsonSerializable(typeof(TaskMetadata))]
[JsonSerializable(typeof(QuantizeConfig))]
internal sealed partial class BundleJsonContext : JsonSerializerContext;
