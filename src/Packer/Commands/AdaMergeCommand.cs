using System.CommandLine;
using System.Globalization;
using Spectre.Console;
#if ADAMERGING
using EdgeTvq.AdaMerging;
using EdgeTvq.Checkpoints;
#endif

namespace EdgeTvq.Packer.Commands;

/// <summary>
/// <c>edgetvq-pack adamerge</c>: learns task-wise or layer-wise task-arithmetic coefficients by AdaMerging on the
/// bundle's quantized task vectors and writes them as a merge recipe (docs/adamerging.md). Built only with a torch
/// backend (TorchBackend=cpu|cuda); with TorchBackend=none the command is there but says how to enable it.
/// </summary>
internal static class AdaMergeCommand
{
    public static Command Create()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var pretrained = Cli.Required("--pretrained", "the bundle's pretrained checkpoint (θ_pre)");
        var model = Cli.Required("--model", "the pretrained encoder as TorchScript, parameters named as in the state dict (docs/adamerging.md)");
        var images = new Option<string[]>("--images") { Description = "TASK=FILE unlabeled test images (idx3 ubyte) of each task to merge", Required = true, AllowMultipleArgumentsPerToken = true };
        var layerWise = new Option<bool>("--layer-wise") { Description = "one λ per task and tensor (default)" };
        var taskWise = new Option<bool>("--task-wise") { Description = "one λ per task" };
        var steps = new Option<int>("--steps") { Description = "Adam steps", DefaultValueFactory = _ => 500 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate", DefaultValueFactory = _ => 1e-3 };
        var init = new Option<double>("--init") { Description = "initial λ", DefaultValueFactory = _ => 0.3 };
        var batch = new Option<int>("--batch-size") { Description = "images per task per step", DefaultValueFactory = _ => 16 };
        var mean = new Option<float>("--mean") { Description = "input normalisation (pixel/255 − mean)/std", DefaultValueFactory = _ => 0.5f };
        var std = new Option<float>("--std") { Description = "input normalisation (pixel/255 − mean)/std", DefaultValueFactory = _ => 0.5f };
        var headPrefix = new Option<string>("--head-prefix") { Description = "a task's head is its own tensors PREFIX.weight and PREFIX.bias", DefaultValueFactory = _ => "head" };
        var seed = new Option<int>("--seed") { Description = "seed of the batch order", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "torch threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var output = Cli.Required("--out", "recipe .json to write");
        var cmd = new Command("adamerge", "Learn task-arithmetic coefficients by AdaMerging (entropy minimisation on unlabeled images) and write a merge recipe")
            { bundle, pretrained, model, images, layerWise, taskWise, steps, lr, init, batch, mean, std, headPrefix, seed, threads, output };
        cmd.SetAction(r => Cli.Run(() =>
        {
            if (r.GetValue(layerWise) && r.GetValue(taskWise)) throw new ArgumentException("--layer-wise and --task-wise exclude each other");
#if ADAMERGING
            var pairs = r.GetValue(images)!.Select(i => Cli.SplitAssignment(i, "--images")).ToList();
            var o = new AdaMergingOptions
            {
                Granularity = r.GetValue(taskWise) ? Granularity.TaskWise : Granularity.LayerWise,
                Steps = r.GetValue(steps), LearningRate = r.GetValue(lr), Init = r.GetValue(init), BatchSize = r.GetValue(batch),
                Mean = r.GetValue(mean), Std = r.GetValue(std), HeadPrefix = r.GetValue(headPrefix)!, Seed = r.GetValue(seed), Threads = r.GetValue(threads),
            };
            using var pre = new CheckpointTensorSource(r.GetValue(pretrained)!);
            var result = WithProgress(progress => AdaMergingRun.Run(r.GetValue(bundle)!, pre, r.GetValue(model)!, pairs, o, progress));
            string outPath = r.GetValue(output)!;
            result.WriteRecipe(outPath);
            AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture,
                $"[green]wrote[/] {outPath}: {result.Tasks.Count} tasks, entropy {result.EntropyBefore:F4} → {result.EntropyAfter:F4}");
            foreach (var t in result.Tasks)
                AnsiConsole.MarkupLineInterpolated(CultureInfo.InvariantCulture, $"  {t}: λ = {result.Coefficients[t]:F4}{(result.TensorCoefficients.Count > 0 ? " (mean over tensors)" : "")}");
            return Cli.Ok;
#else
            Console.Error.WriteLine("error: this edgetvq-pack was built without AdaMerging (TorchBackend=none). Rebuild with a torch backend: " +
                                    "`dotnet build -p:TorchBackend=cpu` (or `./build.sh build`; cuda: -p:TorchBackend=cuda), see docs/adamerging.md");
            return Cli.BadUsage;
#endif
        }));
        return cmd;
    }

#if ADAMERGING
    /// <summary>A Spectre.Console progress bar per phase; the AdaMerging bar shows the latest batch entropy.</summary>
    private static T WithProgress<T>(Func<Action<string, int, int, double>, T> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return work((phase, done, total, loss) =>
            {
                if (done == total || (phase == "adamerging" && done % 50 == 0))
                    Console.Error.WriteLine(double.IsNaN(loss) ? $"{phase}: {done}/{total}" : string.Create(CultureInfo.InvariantCulture, $"{phase}: step {done}/{total}, batch entropy {loss:F4}"));
            });
        }
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work((phase, done, total, loss) =>
                {
                    if (!tasks.TryGetValue(phase, out var t)) tasks[phase] = t = ctx.AddTask(phase, maxValue: Math.Max(1, total));
                    if (!double.IsNaN(loss)) t.Description = string.Create(CultureInfo.InvariantCulture, $"{phase} (batch entropy {loss:F3})");
                    t.Value = done;
                });
                foreach (var t in tasks.Values) t.Value = t.MaxValue;
            });
        return result;
    }
#endif
}
