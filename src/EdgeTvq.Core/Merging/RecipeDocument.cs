using System.Text.Json;
using System.Text.Json.Serialization;
using EdgeTvq.Bundle;
using EdgeTvq.Merging.Registry;

namespace EdgeTvq.Merging;

/// <summary>
/// A merge recipe as JSON (snake_case; docs/merging.md and the manifest's "recipes" in docs/bundle-format.md):
/// <code>
/// {"method": "ties", "tasks": ["mnist", "fashion"], "lambda": 1.0, "params": {"k": 0.2}, "source": "paper defaults"}
/// </code>
/// A recipe file is parsed strictly (an unknown member is an error); inside manifest.json unknown members are ignored.
/// <see cref="ToRecipe"/> checks it against a bundle and names the file and field of any problem.
/// </summary>
public sealed class RecipeDocument
{
    [JsonPropertyName("method")] public string Method { get; set; } = "";

    /// <summary>Tasks to merge, in order (default: the keys of "coefficients", else every task of the bundle).</summary>
    [JsonPropertyName("tasks"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public List<string>? Tasks { get; set; }

    /// <summary>The task served (individual, emr, tsv_compress); the runtime's --task when absent.</summary>
    [JsonPropertyName("task"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Task { get; set; }

    /// <summary>The coefficient on the merged vector (TA λ, TIES λ, MagMax λ, Breadcrumbs α, Consensus α, DARE's λ, TSV-Merge α).</summary>
    [JsonPropertyName("lambda"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Lambda { get; set; }

    /// <summary>task_arithmetic: λ_t per task (tasks not listed get "lambda").</summary>
    [JsonPropertyName("coefficients"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Dictionary<string, double>? Coefficients { get; set; }

    /// <summary>task_arithmetic: λ_t^l per task and tensor (AdaMerging layer-wise), replacing λ_t for the tensors listed.</summary>
    [JsonPropertyName("tensor_coefficients"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Dictionary<string, Dictionary<string, double>>? TensorCoefficients { get; set; }

    /// <summary>The method's hyperparameters by name (see <see cref="ParamsOf"/>).</summary>
    [JsonPropertyName("params"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public Dictionary<string, double>? Params { get; set; }

    /// <summary>lines: the block pattern with an {i} placeholder (default "blocks.{i}.").</summary>
    [JsonPropertyName("block_pattern"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? BlockPattern { get; set; }

    /// <summary>Free-text provenance.</summary>
    [JsonPropertyName("source"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? Source { get; set; }

    /// <summary>The "params" names each method accepts (<see cref="MethodRegistry"/>).</summary>
    public static IReadOnlyList<string> ParamsOf(MergeMethod method) => MethodRegistry.Of(method).Parameters.Select(p => p.Name).ToList();

    /// <summary>Parses a recipe strictly; <paramref name="origin"/> (the file) is named in errors.</summary>
    public static RecipeDocument Parse(ReadOnlySpan<byte> json, string origin)
    {
        try
        {
            return JsonSerializer.Deserialize(json, RecipeJsonContext.Default.RecipeDocument)
                ?? throw new ArgumentException($"{origin}: the recipe is empty (null)");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{origin}: not a valid recipe: {e.Message}", e);
        }
    }

    /// <summary>A recipe file larger than this (64 MiB: layer-wise coefficients of a large model fit easily) is refused unread.</summary>
    public const long MaxFileBytes = 64L << 20;

    public static RecipeDocument Load(string path)
    {
        return Parse(EdgeTvq.IO.LocalFile.ReadAllBytes(path, MaxFileBytes, "recipe file"), path);
    }

    public byte[] ToJson() => JsonSerializer.SerializeToUtf8Bytes(this, RecipeJsonContext.Default.RecipeDocument);

    /// <summary>
    /// The recipe for bundle <paramref name="m"/>, checked: method, tasks and tensors must exist, every number must be
    /// finite and in range. <paramref name="servedTask"/> is the task to serve when the recipe names none (individual,
    /// EMR, TSV-Compress).
    /// Errors are <see cref="ArgumentException"/>s naming <paramref name="origin"/> and the field.
    /// </summary>
    public MergeRecipe ToRecipe(BundleManifest m, string origin, string? servedTask = null)
    {
        ArgumentException Bad(string field, string what) => new($"{origin}: \"{field}\" {what}");
        if (Method is null) throw Bad("method", $"is missing or null; give one of {MethodRegistry.KnownNames}");
        var method = MethodRegistry.Find(Method) ?? throw Bad("method", $"is '{Method}', not a merging method; known: {MethodRegistry.KnownNames}");
        var bundleTasks = m.Tasks.Select(t => t.Name).ToList();
        var check = new RecipeRequest(m, origin, this, [], null, null);

        if (Tasks is { Count: 0 }) throw Bad("tasks", "is empty; leave it out to merge every task");
        var tasks = (Tasks ?? Coefficients?.Keys.ToList() ?? bundleTasks).Select((t, i) => check.CheckTask(Tasks is null ? "coefficients" : $"tasks[{i}]", t)).ToList();
        if (tasks.Distinct().Count() != tasks.Count) throw Bad("tasks", "lists a task twice");
        if (tasks.Count == 0) throw Bad("tasks", "selects no task (the bundle has none)");

        float? lambda = Lambda is { } l ? (float)check.Finite("lambda", l) : null;
        var known = method.Parameters.Select(p => p.Name).ToList();
        foreach (var name in (Params ?? []).Keys)
            if (method.MisplacedParameter(name) is { } hint)
                throw Bad($"params.{name}", hint);
            else if (!known.Contains(name))
                throw Bad($"params.{name}", known.Count == 0 ? $"is not a parameter of {Method} (it takes none)" : $"is not a parameter of {Method}; it takes: {string.Join(", ", known)}");
        string coefficientMethods = string.Join(", ", MethodRegistry.All.Where(d => d.TakesCoefficients).Select(d => d.Name));
        if (Coefficients is not null && !method.TakesCoefficients) throw Bad("coefficients", $"is only for {coefficientMethods}");
        if (TensorCoefficients is not null && !method.TakesCoefficients) throw Bad("tensor_coefficients", $"is only for {coefficientMethods}");
        if (BlockPattern is not null && !method.TakesBlockPattern)
            throw Bad("block_pattern", $"is only for {string.Join(", ", MethodRegistry.All.Where(d => d.TakesBlockPattern).Select(d => d.Name))}");

        string? task = Task ?? (method.ServesOneTask ? servedTask : null);
        if (task is not null) check.CheckTask("task", task);
        if (lambda is not null && method.Lambda == LambdaUse.Refused) throw Bad("lambda", method.LambdaRefusal);

        var recipe = method.Build(new RecipeRequest(m, origin, this, tasks, task, lambda));
        return recipe with { Source = Source };
    }
}

/// <summary>Recipe files: strict (an unknown member is an error, as a typo would otherwise be silently ignored).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowTrailingCommas = false, ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(RecipeDocument))]
internal sealed partial class RecipeJsonContext : JsonSerializerContext;
