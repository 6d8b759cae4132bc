using System.Globalization;
using EdgeTvq.Bundle;

namespace EdgeTvq.Merging.Registry;

/// <summary>
/// The checked inputs a method builds its recipe from (<see cref="MergeMethodDescriptor.Build"/>): the bundle, the
/// merged tasks (in order, each in the bundle), the served task, λ and the raw document for members only some methods
/// take. Errors are <see cref="ArgumentException"/>s naming <see cref="Origin"/> and the field.
/// </summary>
public sealed class RecipeRequest
{
    internal RecipeRequest(BundleManifest manifest, string origin, RecipeDocument document, IReadOnlyList<string> tasks, string? task, float? lambda)
    {
        Manifest = manifest;
        Origin = origin;
        Document = document;
        Tasks = tasks;
        Task = task;
        Lambda = lambda;
    }

    public BundleManifest Manifest { get; }
    /// <summary>Named first in every error: the file, <c>manifest.json, recipe 'NAME'</c>, or the command line.</summary>
    public string Origin { get; }
    public RecipeDocument Document { get; }
    /// <summary>The merged tasks, in order, each one of the bundle's.</summary>
    public IReadOnlyList<string> Tasks { get; }
    /// <summary>The served task (the document's "task", else the caller's for per-task methods), checked against the bundle; may be null.</summary>
    public string? Task { get; }
    /// <summary>"lambda", finite as float32; null when absent.</summary>
    public float? Lambda { get; }

    /// <summary>The bundle's task names.</summary>
    public IReadOnlyList<string> BundleTasks => Manifest.Tasks.Select(t => t.Name).ToList();

    public ArgumentException Bad(string field, string what) => new($"{Origin}: \"{field}\" {what}");

    /// <summary>The value if it is finite as a float32 and within [min, max], else an error naming the field.</summary>
    public double Finite(string field, double v, double min = double.NegativeInfinity, double max = double.PositiveInfinity, string range = "")
    {
        if (!double.IsFinite(v) || !float.IsFinite((float)v))
            throw Bad(field, $"is {v.ToString(CultureInfo.InvariantCulture)}; it must be a finite number (|x| ≤ {float.MaxValue.ToString(CultureInfo.InvariantCulture)}, coefficients are float32)");
        if (v < min || v > max) throw Bad(field, $"is {v.ToString(CultureInfo.InvariantCulture)}; it must lie in {range}");
        return v;
    }

    /// <summary>The name if the bundle has that task, else an error naming the field and the bundle's tasks.</summary>
    public string CheckTask(string field, string name) => BundleTasks.Contains(name) ? name
        : throw Bad(field, $"names task '{name}', which is not in this bundle; it has: {string.Join(", ", BundleTasks)}");

    /// <summary>Whether "params" gives <paramref name="name"/>.</summary>
    public bool Has(string name) => Document.Params?.ContainsKey(name) == true;

    /// <summary>The parameter's checked value: the given one, else its default (null when it has none and none is given).</summary>
    public double? Value(MethodParameter p)
    {
        double? v = Document.Params is { } given && given.TryGetValue(p.Name, out double x) ? x : p.Default;
        return v is { } value ? p.Check(this, $"params.{p.Name}", value) : null;
    }

    /// <summary>The served task of a per-task method: present and among the merged tasks (<paramref name="title"/> names the method).</summary>
    public string ServedTask(string title)
    {
        if (Task is null) throw Bad("task", $"is missing: {title} builds the model of one task (name it, or pass --task)");
        if (!Tasks.Contains(Task)) throw Bad("task", $"'{Task}' is not among the merged tasks");
        return Task;
    }
}
