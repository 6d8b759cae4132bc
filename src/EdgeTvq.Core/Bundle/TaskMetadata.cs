using System.Text.Json;

namespace EdgeTvq.Bundle;

/// <summary>
/// The metadata record (record 0) of a task file: what a runtime needs to use the task besides weights.
/// <see cref="Labels"/>, <see cref="Kind"/> and <see cref="Preprocessing"/> come from the user's --task-metadata JSON
/// file (checked against the model contract, <see cref="TaskContract"/>, when packed); any other fields of that file
/// are kept in <see cref="Extra"/>.
/// </summary>
public sealed class TaskMetadata
{
    public string Task { get; set; } = "";
    public string Source { get; set; } = "";
    public List<string>? Labels { get; set; }
    /// <summary>What the task's head outputs (<see cref="TaskKinds"/>); absent means classification (bundles before it existed).</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Kind { get; set; }
    public JsonElement? Preprocessing { get; set; }
    public Dictionary<string, JsonElement>? Extra { get; set; }
}

public static class TaskMetadataBuilder
{
    /// <summary>
    /// Builds the metadata record from the user's JSON object (may be null): "labels" (array of strings) and
    /// "preprocessing" (any JSON) are lifted out, every other field goes to Extra.
    /// </summary>
    public static TaskMetadata Build(string task, string source, JsonElement? user, string userFile)
    {
        var meta = new TaskMetadata { Task = task, Source = source };
        if (user is not { } u) return meta;
        if (u.ValueKind != JsonValueKind.Object)
            throw new ArgumentException($"{Path.GetFileName(userFile)}: task metadata must be a JSON object");
        foreach (var p in u.EnumerateObject())
        {
            switch (p.Name)
            {
                case "labels" when p.Value.ValueKind == JsonValueKind.Null:
                    break; // no labels: classes are reported by index
                case "labels":
                    if (p.Value.ValueKind != JsonValueKind.Array)
                        throw new ArgumentException($"{Path.GetFileName(userFile)}: \"labels\" must be an array of strings (or null)");
                    meta.Labels = [];
                    foreach (var l in p.Value.EnumerateArray())
                    {
                        if (l.ValueKind != JsonValueKind.String)
                            throw new ArgumentException($"{Path.GetFileName(userFile)}: \"labels\" must be an array of strings");
                        meta.Labels.Add(Text(l, userFile, "labels"));
                    }
                    break;
                case "preprocessing":
                    try { PreprocessingSpec.Parse(p.Value); }
                    catch (FormatException e) { throw new ArgumentException($"{Path.GetFileName(userFile)}: {e.Message}"); }
                    meta.Preprocessing = p.Value.Clone();
                    break;
                case "kind" when p.Value.ValueKind == JsonValueKind.Null:
                    break; // classification
                case "kind":
                    if (p.Value.ValueKind != JsonValueKind.String || !TaskKinds.TryParse(Text(p.Value, userFile, "kind"), out _))
                        throw new ArgumentException($"{Path.GetFileName(userFile)}: \"kind\" must be one of {TaskKinds.Names}");
                    meta.Kind = p.Value.GetString();
                    break;
                case "task":
                case "source":
                    break;
                default:
                    (meta.Extra ??= [])[p.Name] = p.Value.Clone();
                    break;
            }
        }
        return meta;
    }

    /// <summary>A JSON string's text; a string that is not valid UTF-8 is refused naming the file and the key.</summary>
    private static string Text(JsonElement value, string userFile, string key)
    {
        try { return value.GetString()!; }
        catch (InvalidOperationException) { throw new ArgumentException($"{Path.GetFileName(userFile)}: \"{key}\" holds a string that is not valid UTF-8"); }
    }
}
