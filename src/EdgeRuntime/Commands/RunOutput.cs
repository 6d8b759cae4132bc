using System.Text.Json.Serialization;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Runtime.Commands;

/// <summary><c>edgetvq run --json</c>: what ran, how long each step took, and every prediction.</summary>
public sealed class RunOutput
{
    public string Task { get; set; } = "";
    public string Recipe { get; set; } = "";
    public string Mode { get; set; } = "";
    public string Provider { get; set; } = "";
    public string? ProviderNote { get; set; }
    public double PretrainedLoadMs { get; set; }
    public double MergeMs { get; set; }
    public double SessionMs { get; set; }
    public double InferenceMs { get; set; }
    public int Inputs { get; set; }
    public int? Labelled { get; set; }
    public double? Accuracy { get; set; }
    /// <summary>The task's kind and head type ("linear" or "onnx").</summary>
    public string Kind { get; set; } = "";
    public string? Head { get; set; }
    public List<TaskResult> Predictions { get; set; } = [];
    /// <summary>With --output: the files written.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Files { get; set; }
}

/// <summary><c>edgetvq info --json</c>.</summary>
public sealed class InfoOutput
{
    public string Bundle { get; set; } = "";
    public string Scheme { get; set; } = "";
    public string Widths { get; set; } = "";
    public string Quantizer { get; set; } = "";
    public long Parameters { get; set; }
    public long Bytes { get; set; }
    public bool Verified { get; set; }
    public List<InfoTask> Tasks { get; set; } = [];
    /// <summary>The manifest's named recipes.</summary>
    public List<InfoRecipe> Recipes { get; set; } = [];
    /// <summary>With --recipe: the checked recipe, described.</summary>
    public string? Recipe { get; set; }
    /// <summary>The manifest's "defaultRecipe" (null: none): what run and serve use without a merge option.</summary>
    public string? DefaultRecipe { get; set; }
    /// <summary>What the default recipe merges.</summary>
    public string? DefaultRecipeDescription { get; set; }
}

public sealed class InfoRecipe
{
    public string Name { get; set; } = "";
    public string Method { get; set; } = "";
    public string? Source { get; set; }
}

public sealed class InfoTask
{
    public string Name { get; set; } = "";
    public long Bytes { get; set; }
    public List<string> OwnTensors { get; set; } = [];
    /// <summary>Own blobs (format version 2), e.g. head.onnx.</summary>
    public List<string> OwnBlobs { get; set; } = [];
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(RunOutput))]
[JsonSerializable(typeof(InfoOutput))]
internal sealed partial class RuntimeJsonContext : JsonSerializerContext;

/// <summary>One JSON object per line (serve's answers).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = false)]
[JsonSerializable(typeof(TaskResult))]
internal sealed partial class LineJsonContext : JsonSerializerContext;
