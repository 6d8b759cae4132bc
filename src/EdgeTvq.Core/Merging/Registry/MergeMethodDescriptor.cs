using System.Globalization;
using EdgeTvq.Merging.Streaming;

namespace EdgeTvq.Merging.Registry;

/// <summary>What the coefficient on the merged vector ("lambda", <c>--lambda</c>) means to a method.</summary>
public enum LambdaUse
{
    /// <summary>It scales the merged vector (the method's default when absent).</summary>
    Scales,
    /// <summary>Accepted and ignored (individual, LiNeS, EMR: nothing to scale, kept for old recipes).</summary>
    Ignored,
    /// <summary>Refused with <see cref="MergeMethodDescriptor.LambdaRefusal"/>.</summary>
    Refused,
}

/// <summary>
/// One merging method, everything the project knows about it in one place: its names (recipe JSON, <c>--merge</c>,
/// <c>edgetvq-pack merge --method</c>, serve's <c>use</c>, the manifest's recipes), its parameters with defaults and
/// checks, whether the fused path or the general streaming path computes it, its streaming factory, whether it
/// builds one model for all tasks or one per task, and how a recipe of it reads. <see cref="MethodRegistry"/> lists
/// every descriptor; adding a method is a subclass in one file plus one line there (and its <see cref="MergeMethod"/>
/// value). No reflection: the list is written out, so the native AOT runtime stays trimming-safe.
/// </summary>
public abstract class MergeMethodDescriptor
{
    /// <summary>The method's value in <see cref="MergeRecipe.Method"/>.</summary>
    public abstract MergeMethod Method { get; }

    /// <summary>The canonical name: recipe JSON "method", <c>--merge</c>, <c>--method</c>, serve's <c>use</c>.</summary>
    public abstract string Name { get; }

    /// <summary>Other names accepted wherever <see cref="Name"/> is (e.g. "ta").</summary>
    public virtual IReadOnlyList<string> Aliases => [];

    /// <summary>One line for usage texts.</summary>
    public abstract string Summary { get; }

    /// <summary>Computed by the fused dequantize-accumulate path (the task arithmetic family) rather than the general streaming path.</summary>
    public virtual bool IsFused => false;

    /// <summary>Builds one task's model (the recipe's <see cref="MergeRecipe.Task"/>) instead of one model for all its tasks.</summary>
    public virtual bool ServesOneTask => false;

    /// <summary>What "lambda" does for this method.</summary>
    public virtual LambdaUse Lambda => LambdaUse.Scales;

    /// <summary>The coefficient on the merged vector when the recipe gives none.</summary>
    public virtual float DefaultLambda => 1f;

    /// <summary>How the method's papers write the coefficient on the merged vector (λ or α), in texts.</summary>
    public virtual string LambdaSymbol => "λ";

    /// <summary>Why a given "lambda" is refused (<see cref="LambdaUse.Refused"/>): completes "\"lambda\" …" / "--lambda …".</summary>
    public virtual string LambdaRefusal => $"is not used by {Name}";

    /// <summary>The method's "params" (recipe JSON), in the order they are read and listed.</summary>
    public virtual IReadOnlyList<MethodParameter> Parameters => [];

    /// <summary>A hint for a "params" member the method does not take but a user may expect (null: the generic message).</summary>
    public virtual string? MisplacedParameter(string name) => null;

    /// <summary>Takes "coefficients" and "tensor_coefficients" (per-task and per-(task, tensor) λ).</summary>
    public virtual bool TakesCoefficients => false;

    /// <summary>Takes "block_pattern".</summary>
    public virtual bool TakesBlockPattern => false;

    /// <summary>
    /// The number an optional serve argument sets (<c>use NAME [X]</c>): null for "lambda", else a parameter name
    /// (LiNeS: β). Methods that serve one task take the task instead.
    /// </summary>
    public virtual string? ServeArgument => null;

    /// <summary>
    /// The recipe from checked inputs (<see cref="RecipeRequest"/>: tasks, served task, λ, parameters; errors name the
    /// origin and the field). The default: every parameter applied in order onto <see cref="Defaults"/> with "lambda".
    /// </summary>
    public virtual MergeRecipe Build(RecipeRequest request)
    {
        var recipe = Defaults(request.Tasks, request.Task);
        if (Lambda != LambdaUse.Refused) recipe = recipe with { Lambda = request.Lambda };
        foreach (var p in Parameters)
            if (p.Apply is not null) recipe = p.Apply(recipe, request.Value(p)!.Value);
        return recipe;
    }

    /// <summary>The recipe with the method's defaults over <paramref name="tasks"/> (<paramref name="task"/>: the served task).</summary>
    public virtual MergeRecipe Defaults(IReadOnlyList<string> tasks, string? task)
    {
        if (ServesOneTask)
            return new MergeRecipe(Method, tasks.ToDictionary(t => t, _ => 1f))
                { Task = task ?? throw new ArgumentException($"{Name} builds one task's model: name the task to serve") };
        return new MergeRecipe(Method, tasks.ToDictionary(t => t, _ => 1f));
    }

    /// <summary>The recipe of task <paramref name="task"/>'s model: the served task changes for per-task methods; others return the recipe itself.</summary>
    public virtual MergeRecipe ForTask(MergeRecipe recipe, string task) => ServesOneTask ? recipe with { Task = task } : recipe;

    /// <summary>The general path's method for the recipe over <paramref name="tasks"/> (in this order).</summary>
    public virtual StreamingMethod CreateStreaming(MergeRecipe recipe, IReadOnlyList<string> tasks) =>
        throw new ArgumentException($"{Name} is merged by the fused path, not a streaming method");

    /// <summary>How a recipe of this method reads (<see cref="MergeRecipe.ToString"/>; serve's "switched to …").</summary>
    public abstract string Describe(MergeRecipe recipe);

    /// <summary>The index of the served task among <paramref name="tasks"/>, for per-task streaming methods.</summary>
    protected int IndexOfServed(MergeRecipe recipe, IReadOnlyList<string> tasks, string title)
    {
        string task = recipe.Task ?? throw new ArgumentException($"{title} builds one task's model: the recipe must name the task to serve (\"task\")");
        int i = tasks.ToList().IndexOf(task);
        return i >= 0 ? i : throw new ArgumentException($"{title}: the served task '{task}' is not among the merged tasks ({string.Join(", ", tasks)})");
    }

    /// <summary>Three significant digits, invariant culture: how recipes print numbers.</summary>
    protected static string G(double v) => v.ToString("G3", CultureInfo.InvariantCulture);

    /// <summary>The selected tasks, comma-separated.</summary>
    protected static string TaskList(MergeRecipe r) => string.Join(", ", r.SelectedTasks);

    /// <summary>"; per-tensor λ for N (task, tensor) pairs" when the recipe has per-tensor coefficients.</summary>
    protected static string PerTensor(MergeRecipe r) =>
        r.TensorCoefficients is { Count: > 0 } tc ? $"; per-tensor λ for {tc.Sum(kv => kv.Value.Count)} (task, tensor) pairs" : "";

    public override string ToString() => Name;
}
