using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using EdgeTvq.Bundle;

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

    /// <summary>The "params" names each method accepts.</summary>
    public static IReadOnlyList<string> ParamsOf(MergeMethod method) => method switch
    {
        MergeMethod.LiNeS => ["alpha", "beta"],
        MergeMethod.Ties or MergeMethod.TiesDisSum => ["k"],
        MergeMethod.Breadcrumbs => ["beta", "gamma"],
        MergeMethod.Consensus => ["k", "tall_lambda"],
        MergeMethod.Dare => ["p", "seed"],
        MergeMethod.DareTies => ["p", "seed", "k"],
        _ => [],
    };

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
        var method = MergeRecipe.ParseMethod(Method) ?? throw Bad("method", $"is '{Method}', not a merging method; use one of: {string.Join(", ", MergeRecipe.MethodNames)}");
        var bundleTasks = m.Tasks.Select(t => t.Name).ToList();
        string CheckTask(string field, string name) => bundleTasks.Contains(name) ? name
            : throw Bad(field, $"names task '{name}', which is not in this bundle; it has: {string.Join(", ", bundleTasks)}");
        double Finite(string field, double v, double min = double.NegativeInfinity, double max = double.PositiveInfinity, string range = "")
        {
            if (!double.IsFinite(v) || !float.IsFinite((float)v))
                throw Bad(field, $"is {v.ToString(CultureInfo.InvariantCulture)}; it must be a finite number (|x| ≤ {float.MaxValue.ToString(CultureInfo.InvariantCulture)}, coefficients are float32)");
            if (v < min || v > max) throw Bad(field, $"is {v.ToString(CultureInfo.InvariantCulture)}; it must lie in {range}");
            return v;
        }

        if (Tasks is { Count: 0 }) throw Bad("tasks", "is empty; leave it out to merge every task");
        var tasks = (Tasks ?? Coefficients?.Keys.ToList() ?? bundleTasks).Select((t, i) => CheckTask(Tasks is null ? "coefficients" : $"tasks[{i}]", t)).ToList();
        if (tasks.Distinct().Count() != tasks.Count) throw Bad("tasks", "lists a task twice");
        if (tasks.Count == 0) throw Bad("tasks", "selects no task (the bundle has none)");

        float? lambda = Lambda is { } l ? (float)Finite("lambda", l) : null;
        var known = ParamsOf(method);
        var p = Params ?? [];
        foreach (var name in p.Keys)
            if (method == MergeMethod.TsvMerge && name == "alpha")
                throw Bad("params.alpha", "is not a parameter of tsv_merge: its α (θ = θ_pre + α·τ_M) is \"lambda\", the coefficient on the merged vector as for every method");
            else if (!known.Contains(name))
                throw Bad($"params.{name}", known.Count == 0 ? $"is not a parameter of {Method} (it takes none)" : $"is not a parameter of {Method}; it takes: {string.Join(", ", known)}");
        if (Coefficients is not null && method != MergeMethod.TaskArithmetic) throw Bad("coefficients", "is only for task_arithmetic");
        if (TensorCoefficients is not null && method != MergeMethod.TaskArithmetic) throw Bad("tensor_coefficients", "is only for task_arithmetic");
        if (BlockPattern is not null && method != MergeMethod.LiNeS) throw Bad("block_pattern", "is only for lines");

        string? task = Task ?? (MergeRecipe.BuildsOneTask(method) ? servedTask : null);
        if (task is not null) CheckTask("task", task);
        double P(string name, double fallback) => p.TryGetValue(name, out double v) ? v : fallback;

        MergeRecipe recipe;
        switch (method)
        {
            case MergeMethod.Individual:
                recipe = MergeRecipe.Individual(task ?? throw Bad("task", "is missing: individual serves one task"));
                break;
            case MergeMethod.TaskArithmetic:
                {
                    float fallback = lambda ?? MergeRecipe.DefaultLambda;
                    var coefficients = new Dictionary<string, float>();
                    foreach (var t in tasks) coefficients[t] = Coefficients is not null && Coefficients.TryGetValue(t, out double c) ? (float)Finite($"coefficients.{t}", c) : fallback;
                    foreach (var t in Coefficients?.Keys ?? Enumerable.Empty<string>())
                        if (!tasks.Contains(t)) throw Bad($"coefficients.{t}", $"names a task that \"tasks\" leaves out");
                    Dictionary<string, IReadOnlyDictionary<string, float>>? perTensor = null;
                    if (TensorCoefficients is not null)
                    {
                        var tensors = m.Tensors.Where(e => e.Storage != "skipped").Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
                        perTensor = [];
                        foreach (var (t, byTensor) in TensorCoefficients)
                        {
                            if (byTensor is null) throw Bad($"tensor_coefficients.{t}", "is null; give an object of tensor → coefficient, or leave the task out");
                            CheckTask($"tensor_coefficients.{t}", t);
                            if (!tasks.Contains(t)) throw Bad($"tensor_coefficients.{t}", "names a task that \"tasks\" leaves out");
                            var values = new Dictionary<string, float>(StringComparer.Ordinal);
                            foreach (var (tensor, c) in byTensor)
                            {
                                if (!tensors.Contains(tensor)) throw Bad($"tensor_coefficients.{t}.{tensor}", "names a tensor that is not in the bundle's tensor table (or is not a floating tensor)");
                                values[tensor] = (float)Finite($"tensor_coefficients.{t}.{tensor}", c);
                            }
                            perTensor[t] = values;
                        }
                    }
                    recipe = new MergeRecipe(MergeMethod.TaskArithmetic, coefficients) { TensorCoefficients = perTensor };
                    break;
                }
            case MergeMethod.LiNeS:
                {
                    string pattern = BlockPattern ?? Methods.LiNeS.DefaultBlockPattern;
                    if (!pattern.Contains("{i}", StringComparison.Ordinal)) throw Bad("block_pattern", $"is '{pattern}'; it needs an {{i}} placeholder for the block index");
                    float beta = (float)Finite("params.beta", P("beta", Methods.LiNeS.DefaultBeta));
                    float? alpha = p.TryGetValue("alpha", out double a) ? (float)Finite("params.alpha", a) : null;
                    recipe = MergeRecipe.LiNeS(tasks, m.Tensors.Select(e => e.Name), beta, pattern, alpha);
                    break;
                }
            default:
                if (method is MergeMethod.Emr or MergeMethod.TsvCompress)
                {
                    string name = method == MergeMethod.Emr ? "EMR" : Method;
                    if (task is null) throw Bad("task", $"is missing: {name} builds the model of one task (name it, or pass --task)");
                    if (!tasks.Contains(task)) throw Bad("task", $"'{task}' is not among the merged tasks");
                    if (method == MergeMethod.TsvCompress && lambda is not null) throw Bad("lambda", "is not used by tsv_compress (it scales nothing: each matrix of τ̂ is replaced by its low-rank approximation)");
                }
                recipe = MergeRecipe.Of(method, tasks, task) with { Lambda = lambda };
                switch (method)
                {
                    case MergeMethod.Ties or MergeMethod.TiesDisSum:
                        recipe = recipe with { TopK = Finite("params.k", P("k", Methods.TiesMerging.DefaultK), double.Epsilon, 100, "(0, 1] (a fraction) or (1, 100] (a percentage)") };
                        break;
                    case MergeMethod.Breadcrumbs:
                        recipe = recipe with
                        {
                            BreadcrumbsBeta = Finite("params.beta", P("beta", Methods.Breadcrumbs.DefaultBeta), 0, 1, "[0, 1]"),
                            BreadcrumbsGamma = Finite("params.gamma", P("gamma", Methods.Breadcrumbs.DefaultGamma), 0, 1, "[0, 1]"),
                        };
                        break;
                    case MergeMethod.Consensus:
                        {
                            double k = P("k", Methods.ConsensusMerging.DefaultK);
                            Finite("params.k", k, 1, tasks.Count, $"1 … {tasks.Count} (the number of merged tasks)");
                            if (k != Math.Floor(k)) throw Bad("params.k", $"is {k.ToString(CultureInfo.InvariantCulture)}; it must be a whole number of tasks");
                            recipe = recipe with { ConsensusK = (int)k, TallLambda = (float)Finite("params.tall_lambda", P("tall_lambda", Methods.ConsensusMerging.DefaultLambda), 0, double.MaxValue, "[0, ∞)") };
                            break;
                        }
                    case MergeMethod.Dare or MergeMethod.DareTies:
                        {
                            double pr = P("p", Methods.Dare.DefaultP);
                            if (!(pr >= 0 && pr < 1)) throw Bad("params.p", $"is {pr.ToString(CultureInfo.InvariantCulture)}; the drop rate must lie in [0, 1)");
                            double seed = P("seed", 0);
                            Finite("params.seed", seed, int.MinValue, int.MaxValue, "the 32-bit integers");
                            if (seed != Math.Floor(seed)) throw Bad("params.seed", "must be a whole number");
                            recipe = recipe with { DropRate = pr, Seed = (int)seed };
                            if (method == MergeMethod.DareTies)
                                recipe = recipe with { TopK = Finite("params.k", P("k", Methods.TiesMerging.DefaultK), double.Epsilon, 100, "(0, 1] (a fraction) or (1, 100] (a percentage)") };
                            break;
                        }
                }
                break;
        }
        return recipe with { Source = Source };
    }
}

/// <summary>Recipe files: strict (an unknown member is an error, as a typo would otherwise be silently ignored).</summary>
[JsonSourceGenerationOptions(WriteIndented = true, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    AllowTrailingCommas = false, ReadCommentHandling = JsonCommentHandling.Disallow)]
[JsonSerializable(typeof(RecipeDocument))]
internal sealed partial class RecipeJsonContext : JsonSerializerContext;
