using System.CommandLine;
using System.Text.Json;
using EdgeTvq.Bundle;

namespace EdgeTvq.Runtime.Commands;

/// <summary><c>edgetvq info DIR</c>: what a bundle holds; with --verify every file is read and checked.</summary>
internal static class InfoCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "bundle folder" };
        var verify = new Option<bool>("--verify") { Description = "read every file and check every checksum and cross-reference" };
        var json = new Option<bool>("--json") { Description = "print as JSON" };
        var recipeOption = new Option<string?>("--recipe") { Description = "check the recipe NAME (in the manifest) or FILE.json against the bundle and print what it merges" };
        var task = new Option<string?>("--task") { Description = "with --recipe: the task an individual/emr/tsv_compress recipe serves when it names none" };
        var cmd = new Command("info", "Describe a bundle") { dir, verify, json, recipeOption, task };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string path = r.GetValue(dir)!;
            var m = ManifestIO.Load(path);
            bool verified = false;
            if (r.GetValue(verify))
            {
                var result = BundleVerifier.Verify(path);
                foreach (var p in result.Problems) Console.Error.WriteLine($"error: {p}");
                if (!result.Ok) return Cli.Failed;
                verified = true;
            }
            var info = new InfoOutput
            {
                Bundle = Path.GetFullPath(path), Scheme = m.Scheme, Quantizer = m.Quantizer,
                Widths = ManifestIO.HasOwnWidths(m.Tensors)
                    ? $"per-tensor widths (budget allocation, format version 3){(m.Scheme == "rtvq" && m.ErrorCorrection ? ", error correction" : "")}"
                    : m.Scheme == "rtvq" ? $"base {m.BaseBits} bits, offsets {m.OffsetBits} bits{(m.ErrorCorrection ? ", error correction" : "")}" : $"{m.Bits} bits",
                Parameters = m.Pretrained.ParameterCount,
                Bytes = (m.Base?.Bytes ?? 0) + m.Tasks.Sum(t => t.Bytes), Verified = verified,
                Tasks = m.Tasks.Select(t => new InfoTask { Name = t.Name, Bytes = t.Bytes, OwnTensors = t.OwnTensors.Select(o => o.Name).ToList(), OwnBlobs = (t.OwnBlobs ?? []).Select(b => b.Name).ToList() }).ToList(),
                Recipes = (m.Recipes ?? []).Select(kv => new InfoRecipe { Name = kv.Key, Method = kv.Value.Method, Source = kv.Value.Source }).ToList(),
                DefaultRecipe = m.DefaultRecipe,
                DefaultRecipeDescription = m.DefaultRecipe is { } d ? DescribeDefault(m, d, r.GetValue(task)) : null,
                Recipe = r.GetValue(recipeOption) is { } rec ? EdgeTvq.Merging.BundleRecipes.Resolve(m, rec, r.GetValue(task)).ToString() : null,
            };
            if (r.GetValue(json)) { Console.WriteLine(JsonSerializer.Serialize(info, RuntimeJsonContext.Default.InfoOutput)); return Cli.Ok; }
            Console.WriteLine($"{info.Bundle}: {info.Scheme.ToUpperInvariant()} ({info.Widths}, {info.Quantizer} quantizer), {info.Parameters:N0} parameters, {info.Bytes:N0} bytes{(verified ? ", verified" : "")}");
            foreach (var t in info.Tasks) Console.WriteLine($"  {t.Name,-20} {t.Bytes,12:N0} bytes  own: {string.Join(", ", t.OwnTensors.Concat(t.OwnBlobs))}");
            foreach (var rc in info.Recipes) Console.WriteLine($"  recipe {rc.Name,-13} {rc.Method}{(rc.Source is null ? "" : $"  ({rc.Source})")}");
            Console.WriteLine(info.DefaultRecipe is null
                ? "default recipe: none (run serves --task's individual model, serve task arithmetic over every task)"
                : $"default recipe: {info.DefaultRecipe} = {info.DefaultRecipeDescription}");
            if (info.Recipe is not null) Console.WriteLine($"recipe: {info.Recipe}");
            return Cli.Ok;
        }));
        return cmd;
    }

    /// <summary>What the default recipe merges; a recipe this build cannot use is described by its problem, not an error (info still describes the bundle).</summary>
    private static string DescribeDefault(BundleManifest m, string name, string? task)
    {
        var doc = m.Recipes![name];
        bool perTask = EdgeTvq.Merging.Registry.MethodRegistry.Find(doc.Method)?.ServesOneTask == true && doc.Task is null;
        try { return EdgeTvq.Merging.BundleRecipes.Resolve(m, name, task ?? (perTask ? m.Tasks.FirstOrDefault()?.Name : null)).ToString() + (perTask && task is null ? " (for each served task)" : ""); }
        catch (ArgumentException e) { return $"{doc.Method} (not usable by this build: {e.Message})"; }
    }
}
