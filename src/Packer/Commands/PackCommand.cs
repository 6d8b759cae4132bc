using EdgeTvq.Checkpoints;
using System.CommandLine;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using Spectre.Console;

namespace EdgeTvq.Packer.Commands;

/// <summary><c>edgetvq-pack pack</c>: pretrained + fine-tuned checkpoints → a new bundle.</summary>
internal static class PackCommand
{
    public static Command Create()
    {
        var pretrained = Cli.Required("--pretrained", "pretrained checkpoint (.safetensors, .pt/.pth/.bin, .onnx)");
        var task = new Option<string[]>("--task") { Description = "NAME=PATH of a fine-tuned checkpoint; repeat per task", Required = true, AllowMultipleArgumentsPerToken = false };
        var meta = new Option<string[]>("--task-metadata") { Description = "NAME=FILE.json with \"labels\", \"kind\" and \"preprocessing\" for a task (docs/runtime.md); repeatable" };
        var heads = new Option<string[]>("--head") { Description = "NAME=HEAD.onnx: task NAME's head as an ONNX graph (its input: the encoder's output), stored in its task file; repeatable" };
        var scheme = new Option<string>("--scheme") { Description = "fq | tvq | rtvq | bitdelta (tvq at 1 bit, x̂ = α·sign(τ) with α = mean |τ| per row or --group)", DefaultValueFactory = _ => "tvq" };
        var group = new Option<string?>("--group") { Description = "row | G: one scale and zero point per output row or per G consecutive elements of every quantized tensor (format version 4; default quantizer)" };
        var bits = new Option<int?>("--bits") { Description = "code width 1-8 for fq/tvq" };
        var baseBits = new Option<int?>("--base-bits") { Description = "rtvq base width b_b (1-8)" };
        var offsetBits = new Option<int?>("--offset-bits") { Description = "rtvq offset width b_o (1-8)" };
        var noEc = new Option<bool>("--no-error-correction") { Description = "rtvq: take offsets against the unquantized average (Eq. 4) instead of Eq. 6" };
        var config = new Option<string?>("--config") { Description = "the authors' quantize_config.json (its keys override --scheme/--bits/…)" };
        var quantizer = new Option<string>("--quantizer") { Description = "default | reference (value-for-value as the authors' code)", DefaultValueFactory = _ => "default" };
        var policy = new Option<string>("--policy") { Description = "which tensors are quantized: default | authors | all | none (FP32 baseline)", DefaultValueFactory = _ => "default" };
        var output = Cli.Required("--out", "new bundle folder");
        var budget = new Option<double?>("--budget") { Description = "choose every quantized tensor's widths to fit B stored bits per parameter per task (base, headers and float32 tensors included; heads excluded), minimising the measured error" };
        var budgetBytes = new Option<long?>("--budget-bytes") { Description = "as --budget, as a byte count of the base and task files (heads excluded)" };
        var sensitivity = new Option<string?>("--sensitivity") { Description = "with --budget: JSON object {tensor name: weight} multiplying each tensor's measured squared error (default 1)" };
        var threads = new Option<int>("--threads") { Description = "cores quantizing the tasks of a tensor at once (0: every core; the output does not depend on it)", DefaultValueFactory = _ => 0 };

        var cmd = new Command("pack", "Quantize task vectors and write a new bundle") { pretrained, task, meta, heads, scheme, group, bits, baseBits, offsetBits, noEc, config, quantizer, policy, budget, budgetBytes, sensitivity, threads, output };
        cmd.SetAction(r => Cli.Run(() =>
        {
            bool bitDelta = r.GetValue(scheme)!.Equals("bitdelta", StringComparison.OrdinalIgnoreCase);
            var groupSpec = r.GetValue(group) is { } gs ? GroupSpec.Parse(gs) : bitDelta ? GroupSpec.Row : (GroupSpec?)null;
            var options = new PackOptions
            {
                Scheme = bitDelta ? Scheme.Tvq : PackOptions.ParseScheme(r.GetValue(scheme)!),
                Signs = bitDelta,
                Group = groupSpec,
                Bits = bitDelta ? r.GetValue(bits) ?? 1 : r.GetValue(bits),
                BaseBits = r.GetValue(baseBits),
                OffsetBits = r.GetValue(offsetBits),
                ErrorCorrection = !r.GetValue(noEc),
                Mode = PackOptions.ParseMode(r.GetValue(quantizer)!),
                Policy = TensorPolicy.Parse(r.GetValue(policy)!),
                Threads = r.GetValue(threads) >= 0 ? r.GetValue(threads) : throw new ArgumentException("--threads must be 0 (every core) or more"),
                BudgetBits = r.GetValue(budget),
                BudgetBytes = r.GetValue(budgetBytes),
                Sensitivity = r.GetValue(sensitivity) is { } sens ? LoadSensitivity(sens) : null,
            };
            if (r.GetValue(config) is { } cfg) options = options.With(ManifestIO.LoadQuantizeConfig(cfg));
            options.Validate();

            var metadata = LoadMetadata(r.GetValue(meta) ?? []);
            var headBlobs = LoadHeads(r.GetValue(heads) ?? []);
            var sources = new List<CheckpointTensorSource>();
            try
            {
                using var pre = new CheckpointTensorSource(r.GetValue(pretrained)!);
                var tasks = new List<PackTask>();
                foreach (var spec in r.GetValue(task)!)
                {
                    var (name, path) = Cli.SplitAssignment(spec, "--task");
                    var src = new CheckpointTensorSource(path);
                    sources.Add(src);
                    metadata.TryGetValue(name, out var md);
                    tasks.Add(new PackTask(name, src, md.Json, md.File ?? "", headBlobs.TryGetValue(name, out var head) ? [head] : null));
                }
                foreach (var name in metadata.Keys.Where(k => tasks.All(t => t.Name != k)))
                    throw new ArgumentException($"--task-metadata names task '{name}', which is not among the --task options");
                foreach (var name in headBlobs.Keys.Where(k => tasks.All(t => t.Name != k)))
                    throw new ArgumentException($"--head names task '{name}', which is not among the --task options");
                string outDir = r.GetValue(output)!;
                BudgetAllocation? allocation = null;
                var manifest = Cli.WithProgress(p => BundlePacker.Pack(pre, tasks, options, outDir, p, a => allocation = a));
                AnsiConsole.MarkupLineInterpolated($"[green]wrote[/] {outDir}: {manifest.Scheme} bundle with {manifest.Tasks.Count} task(s)");
                if (allocation is { } a) PrintAllocation(a);
                InspectCommand.Print(BundleInspector.Inspect(outDir), perTensor: false);
                return Cli.Ok;
            }
            finally
            {
                foreach (var s in sources) s.Dispose();
            }
        }));
        return cmd;
    }

    private static void PrintAllocation(BudgetAllocation a)
    {
        AnsiConsole.MarkupLineInterpolated($"budget {a.BudgetBytes:N0} bytes; allocated {a.PredictedBytes:N0} bytes ({a.FixedBytes:N0} fixed: headers, metadata, float32 tensors), weighted squared error {a.Error:E4} (best start: {a.Start})");
        if (a.BestUniform(a.BudgetBytes) is { } u)
        {
            var (b1, b2) = BudgetAllocation.Widths(a.Scheme, u.Config);
            string w = b2 is { } o ? $"B{b1}O{o}" : $"{b1}-bit";
            AnsiConsole.MarkupLineInterpolated($"best uniform allocation within the budget: {w}, {u.Bytes:N0} bytes, error {u.Error:E4} ({(u.Error == 0 ? 1 : a.Error / u.Error):F3}× of it allocated)");
        }
        else AnsiConsole.MarkupLine("no uniform allocation fits this budget");
    }

    /// <summary>A sensitivity file: one JSON object mapping tensor names to finite weights ≥ 0.</summary>
    public static Dictionary<string, double> LoadSensitivity(string file)
    {
        var json = ReadJson(file);
        if (json.ValueKind != JsonValueKind.Object) throw new ArgumentException($"{file}: a sensitivity file is one JSON object {{\"tensor name\": weight}}");
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in json.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetDouble(out double w))
                throw new ArgumentException($"{file}: the weight of '{p.Name}' is not a number");
            result[p.Name] = w;
        }
        return result;
    }

    public static Dictionary<string, (JsonElement? Json, string? File)> LoadMetadata(IEnumerable<string> specs)
    {
        var result = new Dictionary<string, (JsonElement?, string?)>();
        foreach (var spec in specs)
        {
            var (name, file) = Cli.SplitAssignment(spec, "--task-metadata");
            result[name] = (ReadJson(file), file);
        }
        return result;
    }

    public static Dictionary<string, PackBlob> LoadHeads(IEnumerable<string> specs)
    {
        var result = new Dictionary<string, PackBlob>();
        foreach (var spec in specs)
        {
            var (name, file) = Cli.SplitAssignment(spec, "--head");
            if (!result.TryAdd(name, ReadHead(file))) throw new ArgumentException($"--head names task '{name}' twice");
        }
        return result;
    }

    /// <summary>A head graph for <see cref="OwnBlobEntry.HeadOnnx"/>: a self-contained ONNX model, refused here rather than on the device.</summary>
    public static PackBlob ReadHead(string file)
    {
        EdgeTvq.Checkpoints.CheckpointReader.CheckSelfContainedOnnx(file);
        return new PackBlob(OwnBlobEntry.HeadOnnx, EdgeTvq.IO.LocalFile.ReadAllBytes(file, EdgeTvq.Format.FormatConstants.MaxPayloadBytes, "head ONNX graph"), file);
    }

    public static JsonElement ReadJson(string file)
    {
        try
        {
            using var doc = JsonDocument.Parse(EdgeTvq.IO.LocalFile.ReadAllBytes(file, 64 << 20, "task metadata JSON file"));
            return doc.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{file}: not valid JSON ({e.Message})");
        }
    }
}
