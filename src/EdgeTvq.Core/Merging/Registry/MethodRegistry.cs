using EdgeTvq.Bundle;
using EdgeTvq.Merging.Methods;

namespace EdgeTvq.Merging.Registry;

/// <summary>
/// Every merging method, one descriptor each (<see cref="MergeMethodDescriptor"/>). Recipe JSON, the runtime's
/// <c>--merge</c> and serve commands, <c>edgetvq-pack merge --method</c>, <see cref="BundleMerger"/>'s choice of path
/// and the streaming factory all look methods up here, so usage texts and "unknown method" errors list the same
/// names everywhere. To add a method: a <see cref="MergeMethod"/> value, a descriptor file in this folder, and its
/// line in <see cref="All"/> (written out, not discovered: the runtime is native AOT).
/// </summary>
public static class MethodRegistry
{
    /// <summary>Every method, in <see cref="MergeMethod"/> order (the order of help texts and error messages).</summary>
    public static IReadOnlyList<MergeMethodDescriptor> All { get; } =
    [
        new IndividualMethod(),
        new TaskArithmeticMethod(),
        new LinesMethod(),
        new TiesMethod(DisjointAggregation.Mean),
        new TiesMethod(DisjointAggregation.Sum),
        new MagMaxMethod(),
        new BreadcrumbsMethod(),
        new ConsensusMethod(),
        new EmrMethod(),
        new DareMethod(),
        new DareTiesMethod(),
        new TsvMergeMethod(),
        new TsvCompressMethod(),
    ];

    private static readonly Dictionary<MergeMethod, MergeMethodDescriptor> ByMethod = All.ToDictionary(d => d.Method);
    private static readonly Dictionary<string, MergeMethodDescriptor> ByName =
        All.SelectMany(d => d.Aliases.Prepend(d.Name).Select(n => (n, d))).ToDictionary(x => x.n, x => x.d, StringComparer.Ordinal);

    /// <summary>The descriptor of <paramref name="method"/>.</summary>
    public static MergeMethodDescriptor Of(MergeMethod method) =>
        ByMethod.TryGetValue(method, out var d) ? d : throw new ArgumentOutOfRangeException(nameof(method), $"{method} has no descriptor in MethodRegistry.All");

    /// <summary>The method named <paramref name="name"/> (its name or an alias, case-sensitive); null when unknown or null.</summary>
    public static MergeMethodDescriptor? Find(string? name) => name is null ? null : ByName.GetValueOrDefault(name);

    /// <summary>The method named <paramref name="name"/>, else an <see cref="ArgumentException"/> "WHERE: unknown method 'X'; known: …".</summary>
    public static MergeMethodDescriptor Get(string name, string where) => Find(name) ?? throw new ArgumentException($"{where}: {Unknown(name)}");

    /// <summary>Every method's canonical name.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(d => d.Name).ToArray();

    /// <summary>Every name with its aliases, for messages: "individual, task_arithmetic (ta), lines, …".</summary>
    public static string KnownNames { get; } =
        string.Join(", ", All.Select(d => d.Aliases.Count == 0 ? d.Name : $"{d.Name} ({string.Join(", ", d.Aliases)})"));

    /// <summary>"unknown method 'X'; known: …".</summary>
    public static string Unknown(string name) => $"unknown method '{name}'; known: {KnownNames}";

    /// <summary>
    /// The usage of each method, one line each: name (aliases), what it builds, its parameters and λ. For help texts
    /// (<c>edgetvq-pack merge --help</c>) and docs.
    /// </summary>
    public static IEnumerable<string> Usage()
    {
        foreach (var d in All)
        {
            string names = d.Aliases.Count == 0 ? d.Name : $"{d.Name} ({string.Join(", ", d.Aliases)})";
            string lambda = d.Lambda == LambdaUse.Scales ? $"; lambda = {d.LambdaSymbol}" : "";
            string ps = d.Parameters.Count == 0 ? "" : $"; params: {string.Join("; ", d.Parameters.Select(p => $"{p.Name} ({p.Meaning})"))}";
            yield return $"{names}: {d.Summary}{lambda}{ps}";
        }
    }

    /// <summary>
    /// The recipe of method <paramref name="name"/> with its defaults over <paramref name="tasks"/> of bundle
    /// <paramref name="m"/> (<paramref name="task"/>: served by per-task methods), checked as a recipe file would be.
    /// </summary>
    public static MergeRecipe DefaultRecipe(string name, BundleManifest m, IReadOnlyList<string> tasks, string? task = null) =>
        new RecipeDocument { Method = name, Tasks = tasks.ToList(), Task = Get(name, "method").ServesOneTask ? task : null }.ToRecipe(m, $"method {name}");
}
