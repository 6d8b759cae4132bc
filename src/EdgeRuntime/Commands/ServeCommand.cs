using System.CommandLine;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Registry;
using EdgeTvq.Runtime.Device;
using EdgeTvq.Runtime.Http;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Runtime.Commands;

/// <summary>
/// <c>edgetvq serve</c>: a long-running process that keeps the merge cache warm and switches between merges on
/// request. By default it is an HTTP service speaking the Open Inference Protocol (<see cref="HttpService"/>, on
/// <c>--listen</c> addresses: a Unix socket and/or TCP). With <c>--stdin</c> (the development console) it reads one
/// command per line on standard input instead and answers one line each:
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
        var initial = new Option<string?>("--task") { Description = "task to serve at start (the task of a per-task default recipe or --recipe/--merge emr|tsv_compress; without a default recipe its individual model); default: the bundle's default recipe, else task arithmetic over all tasks" };
        var merge = new Option<string?>("--merge") { Description = RuntimeOptions.MergeHelp };
        var recipeOption = new Option<string?>("--recipe") { Description = "NAME of a recipe in the bundle's manifest, or FILE.json, to serve at start" };
        var individual = new Option<bool>("--individual") { Description = "serve --task's individual model at start even when the bundle has a default recipe" };
        var listen = new Option<string[]>("--listen")
        {
            Description = $"where to serve the HTTP API: unix:PATH or http://HOST:PORT (repeat for several; default {ServeSettings.DefaultListen})",
            AllowMultipleArgumentsPerToken = false,
        };
        var defaults = new ServeSettings();
        var maxBody = new Option<long>("--max-body-bytes") { Description = "largest request body accepted (413 above)", DefaultValueFactory = _ => defaults.MaxBodyBytes };
        var maxConcurrent = new Option<int>("--max-concurrent") { Description = "inferences run at once (default: one per core)", DefaultValueFactory = _ => defaults.MaxConcurrent };
        var maxQueue = new Option<int>("--max-queue") { Description = "inferences that may wait for a slot; beyond them 503 with Retry-After", DefaultValueFactory = _ => defaults.MaxQueue };
        var noAutoSwitch = new Option<bool>("--no-auto-switch") { Description = "answer 409 to a request for a task the live model does not serve, instead of switching to it" };
        var deviceDefaults = new DeviceSettings();
        var button = new Option<string?>("--button") { Description = "GPIO task button, CHIP:LINE (e.g. gpiochip0:17): a short press serves the next task, a long press the start recipe" };
        var buttonLong = new Option<int>("--button-long-ms") { Description = "how long a press must be held to be a long press", DefaultValueFactory = _ => deviceDefaults.ButtonLongMs };
        var buttonDebounce = new Option<int>("--button-debounce-ms") { Description = "the button's edges settle within this window (bounces ignored)", DefaultValueFactory = _ => deviceDefaults.ButtonDebounceMs };
        var buttonHigh = new Option<bool>("--button-active-high") { Description = "the button drives its line high when pressed (default: low, a button to ground)" };
        var led = new Option<string?>("--led") { Description = "GPIO status LED, CHIP:LINE: on while serving, blinking during a switch, off after a failed switch" };
        var telemetry = new Option<bool>("--telemetry") { Description = "thermal zones and INA3221 power rails (sysfs) in /metrics and GET /v2" };
        var sysfsRoot = new Option<string>("--sysfs-root") { Description = "where sysfs is, for --telemetry", DefaultValueFactory = _ => deviceDefaults.SysfsRoot };
        var stdin = new Option<bool>("--stdin") { Description = "development console: read commands on standard input instead of serving HTTP" };
        var cmd = new Command("serve", "Serve a bundle over HTTP (Open Inference Protocol), switching tasks on request; --stdin: commands on standard input")
            { initial, merge, recipeOption, individual, listen, maxBody, maxConcurrent, maxQueue, noAutoSwitch, button, buttonLong, buttonDebounce, buttonHigh, led, telemetry, sysfsRoot, stdin };
        common.AddTo(cmd);
        cmd.SetAction(r => Cli.Run(() =>
        {
            var deviceSettings = new DeviceSettings
            {
                Button = r.GetValue(button), ButtonLongMs = r.GetValue(buttonLong), ButtonDebounceMs = r.GetValue(buttonDebounce), ButtonActiveHigh = r.GetValue(buttonHigh),
                Led = r.GetValue(led), Telemetry = r.GetValue(telemetry), SysfsRoot = r.GetValue(sysfsRoot)!,
            };
            if (r.GetValue(stdin) && deviceSettings.Any) throw new ArgumentException("--button, --led and --telemetry belong to the HTTP service, not to --stdin");
            using var trust = common.Trust.Load(r);
            // The devices are checked before the first model is built: a missing one stops the start at once.
            using var devices = DeviceServices.Open(deviceSettings);
            using var host = new ModelHost(r.GetValue(common.Bundle)!, r.GetValue(common.Model)!, common.Inference(r), r.GetValue(common.LowMemory), trust);
            var tasks = host.Manifest.Tasks.Select(t => t.Name).ToList();
            if (r.GetValue(individual) && (r.GetValue(merge) is not (null or "individual") || r.GetValue(recipeOption) is not null || r.GetValue(initial) is null))
                throw new ArgumentException("--individual needs --task and excludes --merge and --recipe");
            // No merge option: the bundle's default recipe when its manifest names one (edgetvq-pack tune sets it), else
            // the individual model of --task, else task arithmetic over every task.
            var start = r.GetValue(merge) is null && r.GetValue(recipeOption) is null
                ? (r.GetValue(individual) ? null : BundleRecipes.Default(host.Manifest, r.GetValue(initial)))
                  ?? (r.GetValue(initial) is { } t ? MergeRecipe.Individual(t) : MergeRecipe.TaskArithmetic(tasks))
                : RuntimeOptions.Recipe(r.GetValue(initial), r.GetValue(merge), null, null, host.Manifest, null, r.GetValue(recipeOption));
            var first = host.Switch(start);
            Console.WriteLine(Describe(first));
            if (!r.GetValue(stdin))
            {
                var settings = new ServeSettings
                {
                    Listen = r.GetValue(listen) is { Length: > 0 } l ? l : [ServeSettings.DefaultListen],
                    MaxBodyBytes = r.GetValue(maxBody), MaxConcurrent = r.GetValue(maxConcurrent), MaxQueue = r.GetValue(maxQueue),
                    AutoSwitch = !r.GetValue(noAutoSwitch), Telemetry = devices.Telemetry,
                };
                return ServeHttp(host, r.GetValue(common.Bundle)!, settings, first, devices, start).GetAwaiter().GetResult();
            }
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
                        case "use" when words.Length >= 3 && words[1] == "recipe":
                            Console.WriteLine(Describe(host.Switch(BundleRecipes.Resolve(host.Manifest, words[2], words.Length > 3 ? words[3] : null))));
                            break;
                        case "use" when words.Length >= 2 && MethodRegistry.Find(words[1]) is { } method && (words.Length >= 3 || !method.ServesOneTask):
                            Console.WriteLine(Describe(host.Switch(Use(method, words.Length > 2 ? words[2] : null, host.Manifest))));
                            break;
                        case "classify" when words.Length >= 3:
                            using (var lease = host.Acquire())
                            {
                                var view = lease.Model.Tasks.GetValueOrDefault(words[1]) ?? throw new ArgumentException($"task '{words[1]}' is not in the live model ({lease.Model.Recipe})");
                                var images = words.Skip(2).SelectMany(f => ImageFiles.Load(f)).ToList();
                                foreach (var c in TaskRunner.Run(lease.Model, words[1], images, 3))
                                    Console.WriteLine(JsonSerializer.Serialize(c, LineJsonContext.Default.TaskResult));
                            }
                            break;
                        default:
                            Console.WriteLine($"error: commands are: {Commands}");
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

    private static async Task<int> ServeHttp(ModelHost host, string bundleDir, ServeSettings settings, SwitchReport first, DeviceServices devices, MergeRecipe start)
    {
        var metrics = new ServiceMetrics(host.Manifest.Tasks.Select(t => t.Name), host.BundleGeneration);
        metrics.Switched(first, "start");
        await using var service = await HttpService.StartAsync(host, bundleDir, settings, metrics);
        devices.Attach(service.Router, start);
        foreach (var line in devices.Describe()) Console.WriteLine(line);
        foreach (var address in service.Addresses) Console.WriteLine($"listening on {address}");
        await service.WaitForShutdownAsync(); // SIGTERM, SIGINT
        return Cli.Ok;
    }

    /// <summary>
    /// <c>use METHOD [X]</c>: X is the served task for methods that build one task's model, else the optional number the
    /// method's descriptor names (<see cref="MergeMethodDescriptor.ServeArgument"/>: λ unless it says otherwise), over
    /// every task of the bundle with the method's defaults.
    /// </summary>
    private static MergeRecipe Use(MergeMethodDescriptor method, string? argument, BundleManifest m)
    {
        if (method.ServesOneTask) return RuntimeOptions.Recipe(argument, method.Name, null, null, m);
        if (method.ServeArgument is { } name)
        {
            var parameters = argument is null ? null : new Dictionary<string, double> { [name] = MergeRecipe.ParseCoefficient(argument, $"{method.Name} {name}") };
            return RuntimeOptions.Recipe(null, method.Name, null, null, m, parameters: parameters);
        }
        float? lambda = argument is null ? null : MergeRecipe.ParseCoefficient(argument, method.LambdaSymbol);
        return RuntimeOptions.Recipe(null, method.Name, lambda, null, m);
    }

    /// <summary>The commands serve understands, the methods from the registry.</summary>
    internal static string Commands
    {
        get
        {
            string Names(IEnumerable<MergeMethodDescriptor> ds) => string.Join("|", ds.Select(d => d.Aliases.Prepend(d.Name).MinBy(n => n.Length)));
            var perTask = MethodRegistry.All.Where(d => d.ServesOneTask);
            var lambda = MethodRegistry.All.Where(d => !d.ServesOneTask && d.ServeArgument is null && d.Lambda == LambdaUse.Scales);
            var other = MethodRegistry.All.Where(d => !d.ServesOneTask && d.ServeArgument is not null)
                .Select(d => $"use {d.Name} [{d.ServeArgument!.ToUpperInvariant()}]");
            return string.Join(" | ", new[] { $"use {Names(perTask)} TASK", $"use {Names(lambda)} [LAMBDA]" }.Concat(other)
                .Concat(["use recipe NAME|FILE [TASK]", "classify TASK FILE…", "quit"]));
        }
    }

    private static string Describe(SwitchReport s) =>
        $"switched to {s.Recipe}: merge {s.Merge.TotalMilliseconds:F0} ms, session {s.Session.TotalMilliseconds:F0} ms, total {s.Total.TotalMilliseconds:F0} ms";

    private static string SafeRecipe(ModelHost host)
    {
        using var lease = host.Acquire();
        return lease.Model.Recipe.ToString();
    }
}
