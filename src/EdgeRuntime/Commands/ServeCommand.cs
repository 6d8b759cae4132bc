using System.CommandLine;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Runtime.Commands;

/// <summary>
/// <c>edgetvq serve</c>: a long-running process that keeps the merge cache warm and switches between merges on
/// request. It reads one command per line on standard input and answers one line each:
/// <code>
///   use individual TASK          → switched to individual TASK: merge 12 ms, session 48 ms, total 61 ms
///   use ta [LAMBDA]              → task arithmetic over every task of the bundle
///   use lines [BETA]             → LiNeS on task arithmetic (α = 1/T)
///   use emr TASK                 → EMR: TASK's model from the unified task vector, its mask and rescaler
///   use tsv_compress TASK        → TSV-Compress: TASK's τ̂ with each matrix at rank ⌊r/T⌋ (T: every task)
///   use METHOD [LAMBDA]          → ties | ties_dis_sum | magmax | breadcrumbs | consensus | dare | dare_ties | tsv_merge over every task
///   use recipe NAME|FILE [TASK]  → a named recipe of the manifest or a recipe file (TASK: served by individual/emr/tsv_compress)
///   classify TASK FILE [FILE…]   → one JSON line per input: {"input":…,"trueLabel":…,"top":[{"index":…,"label":…,"probability":…}]}
///   quit
/// </code>
/// Errors answer "error: …" and leave the current model serving.
/// </summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var common = new RuntimeOptions();
        var initial = new Option<string?>("--task") { Description = "task to serve at start (individual, or the task of --recipe/--merge emr|tsv_compress); default: task arithmetic over all tasks" };
        var merge = new Option<string?>("--merge") { Description = RuntimeOptions.MergeHelp };
        var recipeOption = new Option<string?>("--recipe") { Description = "NAME of a recipe in the bundle's manifest, or FILE.json, to serve at start" };
        var cmd = new Command("serve", "Serve a bundle, switching tasks on request (commands on standard input)") { initial, merge, recipeOption };
        common.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            using var host = new ModelHost(r.GetValue(common.Bundle)!, r.GetValue(common.Model)!, common.Inference(r), r.GetValue(common.LowMemory));
            var tasks = host.Manifest.Tasks.Select(t => t.Name).ToList();
            var start = r.GetValue(merge) is null && r.GetValue(recipeOption) is null
                ? r.GetValue(initial) is { } t ? MergeRecipe.Individual(t) : MergeRecipe.TaskArithmetic(tasks)
                : RuntimeOptions.Recipe(r.GetValue(initial), r.GetValue(merge), null, EdgeTvq.Merging.Methods.LiNeS.DefaultBeta, host.Manifest, null, r.GetValue(recipeOption));
            Console.WriteLine(Describe(host.Switch(start)));
            string? line;
            while ((line = Console.In.ReadLine()) is not null)
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                if (words.Length == 0) continue;
                try
                {
                    switch (words[0])
                    {
                        case "quit":
                            return Cli.Ok;
                        case "use" when words.Length >= 3 && words[1] == "individual":
                            Console.WriteLine(Describe(host.Switch(MergeRecipe.Individual(words[2]))));
                            break;
                        case "use" when words.Length >= 2 && words[1] == "lines":
                            float beta = words.Length > 2 ? MergeRecipe.ParseCoefficient(words[2], "β") : EdgeTvq.Merging.Methods.LiNeS.DefaultBeta;
                            Console.WriteLine(Describe(host.Switch(MergeRecipe.LiNeS(tasks, host.Manifest.Tensors.Select(t => t.Name), beta))));
                            break;
                        case "use" when words.Length >= 2 && words[1] == "ta":
                            float lambda = words.Length > 2 ? MergeRecipe.ParseCoefficient(words[2], "λ") : MergeRecipe.DefaultLambda;
                            Console.WriteLine(Describe(host.Switch(MergeRecipe.TaskArithmetic(tasks, lambda))));
                            break;
                        case "use" when words.Length >= 3 && words[1] == "recipe":
                            Console.WriteLine(Describe(host.Switch(BundleRecipes.Resolve(host.Manifest, words[2], words.Length > 3 ? words[3] : null))));
                            break;
                        case "use" when words.Length >= 3 && words[1] is "emr" or "tsv_compress":
                            Console.WriteLine(Describe(host.Switch(RuntimeOptions.Recipe(words[2], words[1], null, 0f, host.Manifest))));
                            break;
                        case "use" when words.Length >= 2 && MergeRecipe.ParseMethod(words[1]) is { } method
                                        && !MergeRecipe.BuildsOneTask(method) && method != MergeMethod.LiNeS:
                            float? l = words.Length > 2 ? MergeRecipe.ParseCoefficient(words[2], "λ") : null;
                            Console.WriteLine(Describe(host.Switch(RuntimeOptions.Recipe(null, words[1], l, 0f, host.Manifest))));
                            break;
                        case "classify" when words.Length >= 3:
                            using (var lease = host.Acquire())
                            {
                                var view = lease.Model.Tasks.GetValueOrDefault(words[1]) ?? throw new ArgumentException($"task '{words[1]}' is not in the live model ({lease.Model.Recipe})");
                                var images = words.Skip(2).SelectMany(f => ImageFiles.Load(f, view.Preprocessing.Size)).ToList();
                                foreach (var c in Classifier.Classify(lease.Model, words[1], images, 3))
                                    Console.WriteLine(JsonSerializer.Serialize(c, LineJsonContext.Default.Classification));
                            }
                            break;
                        default:
                            Console.WriteLine("error: commands are: use individual TASK | use ta [LAMBDA] | use lines [BETA] | use emr|tsv_compress TASK | use ties|ties_dis_sum|magmax|breadcrumbs|consensus|dare|dare_ties|tsv_merge [LAMBDA] | use recipe NAME|FILE [TASK] | classify TASK FILE… | quit");
                            break;
                    }
                }
                catch (Exception e) when (ExitCodes.For(e) is not null)
                {
                    Console.WriteLine($"error: {e.Message} (still serving {SafeRecipe(host)})");
                }
            }
            return Cli.Ok;
        }));
        return cmd;
    }

    private static string Describe(SwitchReport s) =>
        $"switched to {s.Recipe}: merge {s.Merge.TotalMilliseconds:F0} ms, session {s.Session.TotalMilliseconds:F0} ms, total {s.Total.TotalMilliseconds:F0} ms";

    private static string SafeRecipe(ModelHost host)
    {
        using var lease = host.Acquire();
        return lease.Model.Recipe.ToString();
    }
}
