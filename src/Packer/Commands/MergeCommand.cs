using System.CommandLine;
using System.Globalization;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Merging.Methods;
using Spectre.Console;

namespace EdgeTvq.Packer.Commands;

/// <summary>
/// <c>edgetvq-pack merge</c>: merged weights computed offline from a bundle's quantized task vectors, for methods that
/// need more than the device's streaming merge (TSV: an SVD per matrix). Writes θ_pre + Δ for every tensor of the
/// bundle's table as float32 .safetensors.
/// </summary>
internal static class MergeCommand
{
    public static readonly string[] Methods = ["tsv_merge", "tsv_compress"];

    public static Command Create()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var pretrained = Cli.Required("--pretrained", "the bundle's pretrained checkpoint (θ_pre)");
        var method = Cli.Required("--method", "tsv_merge (one model for all tasks) | tsv_compress (one task, low-rank τ̂)");
        var task = new Option<string?>("--task") { Description = "the task for tsv_compress (its own tensors, e.g. its head, are written too)" };
        var alpha = new Option<float>("--alpha") { CustomParser = r => Cli.Coefficient(r, "--alpha"), Description = "tsv_merge scale α: θ = θ_pre + α·τ_M", DefaultValueFactory = _ => Tsv.DefaultAlpha };
        var output = Cli.Required("--out", "output .safetensors file");
        var cmd = new Command("merge", "Merge a bundle's quantized task vectors offline (TSV-Merge, TSV-Compress) into a .safetensors checkpoint")
            { bundle, pretrained, method, task, alpha, output };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = r.GetValue(bundle)!, outPath = r.GetValue(output)!, name = r.GetValue(method)!;
            string? taskName = r.GetValue(task);
            if (!Methods.Contains(name)) throw new ArgumentException($"--method must be one of {string.Join(", ", Methods)}, got '{name}'");
            if (name == "tsv_compress" && taskName is null) throw new ArgumentException("--method tsv_compress needs --task NAME");
            if (name == "tsv_merge" && taskName is not null) throw new ArgumentException("--task is for tsv_compress; tsv_merge merges every task");
            var m = ManifestIO.Load(dir);
            if (taskName is not null) TaskDecoder.FindTask(m, taskName);
            using var pre = new CheckpointTensorSource(r.GetValue(pretrained)!);
            var result = Cli.WithProgress(p => Merge(dir, pre, name, taskName, r.GetValue(alpha), p));
            var metadata = new Dictionary<string, string>
            {
                ["edgetvq.method"] = name,
                ["edgetvq.tasks"] = string.Join(",", result.Tasks),
                ["edgetvq.scheme"] = m.Scheme,
                ["edgetvq.bundle_id"] = m.BundleId,
            };
            if (name == "tsv_merge") metadata["edgetvq.alpha"] = r.GetValue(alpha).ToString("R", CultureInfo.InvariantCulture);
            string partial = outPath + ".partial";
            SafetensorsWriter.WriteFloat32(partial, result.Tensors, metadata);
            File.Move(partial, outPath, overwrite: true);
            AnsiConsole.MarkupLineInterpolated($"[green]wrote[/] {outPath}: {result.Tensors.Count} tensors, {name} of {string.Join(", ", result.Tasks)}");
            return Cli.Ok;
        }));
        return cmd;
    }

    public sealed record Merged(IReadOnlyList<string> Tasks, List<(string Name, long[] Shape, float[] Data)> Tensors);

    /// <summary>θ_pre + Δ per table tensor (tsv_compress: plus the task's own tensors).</summary>
    public static Merged Merge(string dir, ITensorSource pre, string method, string? task, float alpha, PackProgress progress)
    {
        var bt = BundleTable.Decode(dir, pre, (done, total) => progress("decoding task vectors", done, total));
        int index = task is null ? -1 : bt.TaskIndex(task);
        var tensors = new List<(string, long[], float[])>(bt.Table.Count);
        for (int n = 0; n < bt.Table.Count; n++)
        {
            var t = bt.Table[n];
            var delta = index < 0 ? Tsv.MergeTensor(t, alpha) : Tsv.CompressTensor(t, index);
            var theta = new float[t.Length];
            pre.ReadFloat32(t.Name, theta);
            System.Numerics.Tensors.TensorPrimitives.Add(theta, delta, theta);
            tensors.Add((t.Name, t.Shape, theta));
            progress(method, n + 1, bt.Table.Count);
        }
        if (index >= 0)
            foreach (var own in bt.Own[task!]) tensors.Add((own.Name, own.Shape, own.Values));
        return new Merged(index < 0 ? bt.Tasks : [task!], tensors);
    }
}
