using System.CommandLine;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using Spectre.Console;

namespace EdgeTvq.Packer.Commands;

/// <summary><c>edgetvq-pack decode</c>: a task's dequantized tensors as .safetensors for existing Python merging code.</summary>
internal static class DecodeCommand
{
    public static Command Create()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var task = Cli.Required("--task", "task name");
        var output = Cli.Required("--out", "output .safetensors file");
        var mode = new Option<string>("--as") { Description = "task-vector (τ̂) | finetuned (θ_pre + τ̂)", DefaultValueFactory = _ => "task-vector" };
        var pretrained = new Option<string?>("--pretrained") { Description = "pretrained checkpoint (needed for --as finetuned and for FQ bundles)" };
        var cmd = new Command("decode", "Write a task's dequantized tensors to a .safetensors file") { bundle, task, output, mode, pretrained };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string dir = r.GetValue(bundle)!, outPath = r.GetValue(output)!;
            var target = r.GetValue(mode) switch
            {
                "task-vector" => DecodeTarget.TaskVector,
                "finetuned" => DecodeTarget.Finetuned,
                var other => throw new ArgumentException($"--as must be task-vector or finetuned, got '{other}'"),
            };
            var m = ManifestIO.Load(dir);
            var entry = TaskDecoder.FindTask(m, r.GetValue(task)!);
            using var pre = r.GetValue(pretrained) is { } p ? new CheckpointTensorSource(p) : null;
            var tensors = new List<(string, long[], float[])>();
            var meta = TaskDecoder.Decode(dir, m, entry, pre, target, t => tensors.Add((t.Name, t.Shape, t.Values)));
            var metadata = new Dictionary<string, string>
            {
                ["edgetvq.task"] = entry.Name,
                ["edgetvq.content"] = r.GetValue(mode)!,
                ["edgetvq.scheme"] = m.Scheme,
                ["edgetvq.bundle_id"] = m.BundleId,
            };
            if (meta.Labels is { } labels) metadata["edgetvq.labels"] = string.Join("\n", labels);
            string partial = outPath + ".partial";
            SafetensorsWriter.WriteFloat32(partial, tensors, metadata);
            File.Move(partial, outPath, overwrite: true);
            AnsiConsole.MarkupLineInterpolated($"[green]wrote[/] {outPath}: {tensors.Count} tensors ({r.GetValue(mode)}) of task '{entry.Name}'");
            return Cli.Ok;
        }));
        return cmd;
    }
}
