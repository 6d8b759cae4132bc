using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeTvq.Eval;

/// <summary>Accuracy of one model on one task's exported test set.</summary>
public sealed class TaskScore
{
    public string Task { get; set; } = "";
    public int Images { get; set; }
    public int Correct { get; set; }
    public double Accuracy { get; set; }
}

/// <summary>What a pack costs and how far it is from the exact task vectors, per task (from the bundle's inspect report).</summary>
public sealed class PackTaskStats
{
    public string Task { get; set; } = "";
    public long FileBytes { get; set; }
    /// <summary>Paper accounting: 32 (FP32), b (FQ/TVQ) or b_o + b_b/T (RTVQ).</summary>
    public double PaperBits { get; set; }
    /// <summary>Everything the task costs on disk (its file less its head, plus its share of the base) × 8 / encoder parameters.</summary>
    public double StoredBits { get; set; }
    /// <summary>The paper's Fig. 4 measure: ‖τ − τ̂‖₂ over the quantized tensors ÷ their parameter count (0 for FP32).</summary>
    public double QuantizationError { get; set; }
    public double SparsityBefore { get; set; }
    public double SparsityAfter { get; set; }
}

public sealed class PackStats
{
    public long BundleBytes { get; set; }
    public long Float32Bytes { get; set; }
    public long Parameters { get; set; }
    public long QuantizedParameters { get; set; }
    public double PaperBits { get; set; }
    public double StoredBits { get; set; }
    public double MeanQuantizationError { get; set; }
    public List<PackTaskStats> Tasks { get; set; } = [];
}

/// <summary>One (zoo, scheme, method) cell: accuracy per task and the storage it took.</summary>
public sealed class CellResult
{
    public string Key { get; set; } = "";
    public string Zoo { get; set; } = "";
    public string ZooKey { get; set; } = "";
    public int TaskCount { get; set; }
    public string Scheme { get; set; } = "";
    public string SchemeLabel { get; set; } = "";
    public string Method { get; set; } = "";
    public string MethodLabel { get; set; } = "";
    public string MethodSettings { get; set; } = "";
    public string Kind { get; set; } = "";
    /// <summary>Per task: the per-task model of that task (per-task methods) or the one merged model (multi-task).</summary>
    public List<TaskScore> Tasks { get; set; } = [];
    /// <summary>Unweighted mean of the per-task accuracies (the paper's "average accuracy").</summary>
    public double Average { get; set; }
    /// <summary>Per-task methods with cross-task evaluation: Cross[i][j] = accuracy of task i's model on task j (task j's head).</summary>
    public double[][]? Cross { get; set; }
    /// <summary>Mean of the diagonal of <see cref="Cross"/> (= <see cref="Average"/>).</summary>
    public double? TargetAverage { get; set; }
    /// <summary>Mean of the off-diagonal entries of <see cref="Cross"/>.</summary>
    public double? CrossAverage { get; set; }
    public PackStats Pack { get; set; } = new();
    /// <summary>Where a multi-task recipe came from when it says (AdaMerging: steps, entropy before and after, bundle id).</summary>
    public string? RecipeSource { get; set; }
    public double Seconds { get; set; }
    public string FinishedUtc { get; set; } = "";
}

/// <summary>Statistics of the task vectors themselves, for Figs. 3 and B and the RTVQ explanation.</summary>
public sealed class ZooAnalysis
{
    public string Zoo { get; set; } = "";
    public string ZooKey { get; set; } = "";
    public List<RangeStats> Ranges { get; set; } = [];
    public List<string> Tasks { get; set; } = [];
    /// <summary>Scheme id → cosine similarity matrix between task vectors (FP32: exact τ; others: decoded τ̂), quantized tensors.</summary>
    public Dictionary<string, double[][]> Cosine { get; set; } = [];
    /// <summary>Scheme id → per task ‖τ̂‖₂ over the quantized tensors (FP32: ‖τ‖₂).</summary>
    public Dictionary<string, double[]> Norms { get; set; } = [];
}

/// <summary>Value distribution over the quantized tensors of one task: fine-tuned weights, task vector, RTVQ offset.</summary>
public sealed class RangeStats
{
    public string Task { get; set; } = "";
    public double FinetunedMin { get; set; }
    public double FinetunedMax { get; set; }
    public double TaskVectorMin { get; set; }
    public double TaskVectorMax { get; set; }
    public double TaskVectorL2 { get; set; }
    /// <summary>Mean over quantized tensors of the per-tensor range (max − min): what sets a per-tensor quantizer's step.</summary>
    public double TaskVectorMeanTensorRange { get; set; }
    /// <summary>Same for the RTVQ offset τ_t − mean_s τ_s (the exact base, before its quantization).</summary>
    public double OffsetMeanTensorRange { get; set; }
    public double[] HistogramEdges { get; set; } = [];
    public long[] FinetunedHistogram { get; set; } = [];
    public long[] TaskVectorHistogram { get; set; } = [];
}

/// <summary>The whole results file: every cell of this run plus the analyses.</summary>
public sealed class ResultsFile
{
    public string Generated { get; set; } = "";
    public string Machine { get; set; } = "";
    public string Command { get; set; } = "";
    public List<CellResult> Cells { get; set; } = [];
    /// <summary>"zoo scheme × method: error" for each cell whose merge failed (not cached, retried by a rerun).</summary>
    public List<string> Failures { get; set; } = [];
    public List<ZooAnalysis> Analyses { get; set; } = [];
}

public static class Json
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Writes under a temporary name, then renames: an interrupted run never leaves half a file.</summary>
    public static void WriteAtomic<T>(string path, T value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + ".partial";
        File.WriteAllText(tmp, JsonSerializer.Serialize(value, Options));
        File.Move(tmp, path, overwrite: true);
    }

    public static T? Read<T>(string path) => File.Exists(path) ? JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options) : default;
}

/// <summary>
/// The resumable cache: every finished cell (and analysis) keyed by a hash of its inputs — zoo manifest, scheme
/// options, method and settings, harness version — saved as soon as it is done, so a rerun skips finished cells.
/// </summary>
public sealed class ResultCache
{
    public const string HarnessVersion = "edgetvq-eval 1";

    private readonly string _path;
    private readonly Dictionary<string, CellResult> _cells;
    private readonly Dictionary<string, ZooAnalysis> _analyses;

    private sealed class Stored
    {
        public Dictionary<string, CellResult> Cells { get; set; } = [];
        public Dictionary<string, ZooAnalysis> Analyses { get; set; } = [];
    }

    public ResultCache(string path)
    {
        _path = path;
        var s = Json.Read<Stored>(path) ?? new Stored();
        (_cells, _analyses) = (s.Cells, s.Analyses);
    }

    public static string CellKey(Zoo zoo, StorageScheme scheme, MergingMethod method, bool cross) =>
        Hash($"{HarnessVersion}|{zoo.Key}|{scheme.Key}|{method.Key}|cross={cross && method.CrossTask}");

    public static string AnalysisKey(Zoo zoo) => Hash($"{HarnessVersion}|analysis 2|{zoo.Key}");

    private static string Hash(string s) => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(s)))[..20];

    public bool TryGet(string key, out CellResult cell) => _cells.TryGetValue(key, out cell!);
    public bool TryGetAnalysis(string key, out ZooAnalysis a) => _analyses.TryGetValue(key, out a!);

    public void Put(CellResult cell)
    {
        _cells[cell.Key] = cell;
        Save();
    }

    public void PutAnalysis(string key, ZooAnalysis a)
    {
        _analyses[key] = a;
        Save();
    }

    private void Save() => Json.WriteAtomic(_path, new Stored { Cells = _cells, Analyses = _analyses });
}
