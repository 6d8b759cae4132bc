using System.Text.Json;
using System.Text.Json.Serialization;
using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>What <c>edgetvq-pack inspect</c> reports, measured from the files (sizes) and the manifest (error, sparsity).</summary>
public sealed class BundleReport
{
    public string Bundle { get; set; } = "";
    public string Scheme { get; set; } = "";
    public string Quantizer { get; set; } = "";
    public int? Bits { get; set; }
    public int? BaseBits { get; set; }
    public int? OffsetBits { get; set; }
    public bool ErrorCorrection { get; set; }
    public string Policy { get; set; } = "";
    public int TaskCount { get; set; }
    public long Parameters { get; set; }
    public long QuantizedParameters { get; set; }
    /// <summary>Every file of the bundle, manifest included.</summary>
    public long TotalBytes { get; set; }
    public long BaseBytes { get; set; }
    /// <summary>T × (stored parameters) × 4: the same task vectors kept as float32.</summary>
    public long Float32Bytes { get; set; }
    /// <summary>Paper accounting: b (FQ/TVQ) or b_o + b_b/T (RTVQ).</summary>
    public double PaperBitsPerParameter { get; set; }
    /// <summary>Bytes of all quantized-tensor records (base and every task) × 8 / (T × quantized parameters).</summary>
    public double StoredBitsPerQuantizedParameter { get; set; }
    /// <summary>
    /// (base file + every task file − their own tensors and blobs) × 8 / (T × stored parameters): what <c>pack --budget</c>
    /// counts, so an allocated bundle's value is at most its budget.
    /// </summary>
    public double StoredBitsPerParameter { get; set; }
    /// <summary>Whether the table carries per-tensor widths (format version 3, <c>pack --budget</c>).</summary>
    public bool PerTensorWidths { get; set; }
    /// <summary>
    /// Format version 4: how the quantized tensors' records are grouped: "row" (one scale per output row), a group size
    /// G ("128"), "mixed", or null when every record has one scale per tensor.
    /// </summary>
    public string? Grouping { get; set; }
    /// <summary>Format version 4: "sign" for BitDelta's α·sign groups, "affine" for per-group scale and zero point; null without groups.</summary>
    public string? GroupMode { get; set; }
    /// <summary>Quantized parameters per task-code width (offsets for rtvq), widths in increasing order.</summary>
    public List<WidthCount> TaskWidths { get; set; } = [];
    /// <summary>rtvq: quantized parameters per base width.</summary>
    public List<WidthCount> BaseWidths { get; set; } = [];
    public List<TensorReport> Tensors { get; set; } = [];
    public List<TaskReport> Tasks { get; set; } = [];
}

public sealed class WidthCount
{
    public int Bits { get; set; }
    public long Parameters { get; set; }
}

public sealed class TensorReport
{
    public string Name { get; set; } = "";
    public long[] Shape { get; set; } = [];
    public string Storage { get; set; } = "";
    /// <summary>Quantized tensors: the width of its codes in task files (the offsets' for rtvq); null otherwise.</summary>
    public int? Bits { get; set; }
    /// <summary>rtvq quantized tensors: the width of its base record; null otherwise.</summary>
    public int? BaseBits { get; set; }
    /// <summary>Grouped tensors: "row" or "G&lt;size&gt;" for its task records (offsets for rtvq); null for one scale per tensor.</summary>
    public string? Group { get; set; }
    /// <summary>rtvq grouped tensors: the same for its base record.</summary>
    public string? BaseGroup { get; set; }
    public long Parameters { get; set; }
    public long BaseBytes { get; set; }
    /// <summary>Mean over tasks of the record's bytes in the task file.</summary>
    public double TaskBytesMean { get; set; }
}

public sealed class TaskReport
{
    public string Name { get; set; } = "";
    public long FileBytes { get; set; }
    public long OwnTensorBytes { get; set; }
    public double PaperBitsPerParameter { get; set; }
    /// <summary>(this task's quantized records + base quantized records / T) × 8 / quantized parameters.</summary>
    public double StoredBitsPerQuantizedParameter { get; set; }
    /// <summary>(task file − own tensors + base file / T) × 8 / stored parameters: everything a task costs.</summary>
    public double StoredBitsPerParameter { get; set; }
    public double? QuantizationError { get; set; }
    public double? SparsityBefore { get; set; }
    public double? SparsityAfter { get; set; }
    public int LabelCount { get; set; }
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(BundleReport))]
internal sealed partial class ReportJsonContext : JsonSerializerContext;

/// <summary>Builds a <see cref="BundleReport"/> by one <see cref="BundleStream"/> pass over every file of a bundle (which also verifies it).</summary>
public static class BundleInspector
{
    /// <summary>"row" when G is the tensor's row length, else "G&lt;size&gt;"; null for no group.</summary>
    public static string? GroupText(int? group, long[] shape) =>
        group is not int g ? null : g == Quantization.GroupQuantizer.RowLength(shape) ? "row" : $"G{g}";

    /// <summary>The bundle's grouping in one word: "row", a group size, "mixed", or null (none).</summary>
    private static string? BundleGrouping(IReadOnlyList<TensorEntry> table)
    {
        var sizes = table.SelectMany(e => new[] { (e.Group, e.Shape), (e.BaseGroup, e.Shape), (e.OffsetGroup, e.Shape) })
            .Where(x => x.Item1 is not null).ToList();
        if (sizes.Count == 0) return null;
        if (sizes.All(x => x.Item1 == Quantization.GroupQuantizer.RowLength(x.Shape))) return "row";
        return sizes.Select(x => x.Item1).Distinct().Count() == 1 ? sizes[0].Item1!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) : "mixed";
    }

    public static BundleReport Inspect(string bundleDir)
    {
        var m = ManifestIO.Load(bundleDir);
        var o = ManifestIO.OptionsOf(m);
        int T = m.Tasks.Count;
        var stored = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        long P = stored.Sum(e => e.ElementCount), Pq = m.Pretrained.QuantizedParameterCount;
        var tensorReports = m.Tensors.Select(e => new TensorReport
            {
                Name = e.Name, Shape = e.Shape, Storage = e.Storage, Parameters = e.ElementCount,
                Bits = e.Storage == "quantized" ? o.TaskBitsOf(e) : null,
                BaseBits = e.Storage == "quantized" && o.Scheme == Scheme.Rtvq ? o.BaseBitsOf(e) : null,
                Group = GroupText(o.Scheme == Scheme.Rtvq ? e.OffsetGroup : e.Group, e.Shape),
                BaseGroup = GroupText(e.BaseGroup, e.Shape),
            })
            .ToDictionary(t => t.Name, StringComparer.Ordinal);
        bool perTensor = ManifestIO.HasOwnWidths(m.Tensors);
        var quantized = m.Tensors.Where(e => e.Storage == "quantized").ToList();
        long quantizedElements = quantized.Sum(e => e.ElementCount);
        // Paper accounting: b (FQ/TVQ) or b_o + b_b/T (RTVQ); with per-tensor widths the parameter-weighted means.
        double paperBits = !perTensor || quantizedElements == 0
            ? (o.Scheme == Scheme.Rtvq ? o.OffsetBits!.Value + (double)o.BaseBits!.Value / Math.Max(1, T) : o.Bits!.Value)
            : (double)quantized.Sum(e => (long)o.TaskBitsOf(e) * e.ElementCount) / quantizedElements
              + (o.Scheme == Scheme.Rtvq ? (double)quantized.Sum(e => (long)o.BaseBitsOf(e) * e.ElementCount) / quantizedElements / Math.Max(1, T) : 0);
        static List<WidthCount> Histogram(IEnumerable<(int Bits, long N)> items) =>
            items.GroupBy(x => x.Bits).OrderBy(g => g.Key).Select(g => new WidthCount { Bits = g.Key, Parameters = g.Sum(x => x.N) }).ToList();

        var report = new BundleReport
        {
            Bundle = Path.GetFullPath(bundleDir), Scheme = m.Scheme, Quantizer = m.Quantizer, Bits = m.Bits, BaseBits = m.BaseBits,
            OffsetBits = m.OffsetBits, ErrorCorrection = m.ErrorCorrection, Policy = m.Policy, TaskCount = T,
            Parameters = P, QuantizedParameters = Pq, BaseBytes = m.Base?.Bytes ?? 0, Float32Bytes = 4L * P * T,
            PaperBitsPerParameter = paperBits, PerTensorWidths = perTensor,
            Grouping = BundleGrouping(m.Tensors), GroupMode = ManifestIO.HasGroups(m.Tensors) ? m.GroupMode ?? "affine" : null,
            TaskWidths = Histogram(quantized.Select(e => (o.TaskBitsOf(e), e.ElementCount))),
            BaseWidths = o.Scheme == Scheme.Rtvq ? Histogram(quantized.Select(e => (o.BaseBitsOf(e), e.ElementCount))) : [],
        };
        // One lockstep pass over the base file and every task file (the base is read once).
        var quantizedBytes = new long[T];
        var ownBytes = new long[T];
        long baseQuantizedBytes = 0;
        using (var stream = BundleStream.Open(bundleDir, m, m.Tasks))
        {
            while (stream.MoveNext())
            {
                var e = stream.Current;
                var tr = tensorReports[e.Name];
                for (int t = 0; t < T; t++)
                {
                    long length = stream.TaskRecord(t).TotalLength;
                    tr.TaskBytesMean += (double)length / T;
                    if (e.Storage == "quantized") quantizedBytes[t] += length;
                }
                if (stream.BaseRecord is { } b)
                {
                    tr.BaseBytes = b.TotalLength;
                    baseQuantizedBytes += b.TotalLength;
                }
            }
            for (int t = 0; t < T; t++)
                stream.ReadOwn(t, (int task, OwnTensorEntry _, in BundleRecord r) => ownBytes[task] += r.TotalLength,
                    (int task, OwnBlobEntry _, in BundleRecord r) => ownBytes[task] += r.TotalLength);
            stream.Finish();
            for (int t = 0; t < T; t++)
            {
                var task = m.Tasks[t];
                double baseShare = (double)baseQuantizedBytes / T;
                report.Tasks.Add(new TaskReport
                {
                    Name = task.Name,
                    FileBytes = task.Bytes,
                    OwnTensorBytes = ownBytes[t],
                    PaperBitsPerParameter = paperBits,
                    StoredBitsPerQuantizedParameter = Pq == 0 ? 0 : (quantizedBytes[t] + baseShare) * 8 / Pq,
                    StoredBitsPerParameter = P == 0 ? 0 : (task.Bytes - ownBytes[t] + (double)report.BaseBytes / T) * 8 / P,
                    QuantizationError = task.Stats?.QuantizationError,
                    SparsityBefore = task.Stats?.SparsityBefore,
                    SparsityAfter = task.Stats?.SparsityAfter,
                    LabelCount = stream.Metadata[t]!.Labels?.Count ?? 0,
                });
            }
        }
        long allQuantizedBytes = quantizedBytes.Sum();
        report.StoredBitsPerQuantizedParameter = T == 0 || Pq == 0 ? 0 : (allQuantizedBytes + baseQuantizedBytes) * 8.0 / ((double)T * Pq);
        report.StoredBitsPerParameter = T == 0 || P == 0 ? 0 : (report.BaseBytes + m.Tasks.Sum(t => t.Bytes) - ownBytes.Sum()) * 8.0 / ((double)T * P);
        report.Tensors = m.Tensors.Select(e => tensorReports[e.Name]).ToList();
        report.TotalBytes = Directory.EnumerateFiles(bundleDir).Sum(f => new FileInfo(f).Length);
        return report;
    }

    public static string ToJson(BundleReport r) => JsonSerializer.Serialize(r, ReportJsonContext.Default.BundleReport);
}
