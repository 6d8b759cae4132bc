using System.CommandLine;
using EdgeTvq.IO;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Packer.Commands;

/// <summary>
/// <c>edgetvq-pack sensitivity --bundle B --model encoder.onnx --validation TASK=FILE … --out weights.json</c>:
/// measures each tensor's loss per unit of squared quantization error on validation images through the device path
/// (<see cref="SensitivityProbe"/>) and writes the <c>{tensor: weight}</c> file that <c>pack --budget --sensitivity</c>
/// reads. The bundle is only read.
/// </summary>
internal static class SensitivityCommand
{
    public static Command Create()
    {
        var bundle = Cli.Required("--bundle", "bundle folder (a float32 one, pack --policy none, measures the task vectors unrounded)");
        var model = Cli.Required("--model", "ONNX model of the pretrained network (as for edgetvq run)");
        var validation = new Option<string[]>("--validation")
        {
            Description = "TASK=FILE: labelled validation images of a classification task (as for tune); repeat per task. Only these files are read",
            Required = true, AllowMultipleArgumentsPerToken = false,
        };
        var probeBits = new Option<int>("--probe-bits") { Description = "width of the probing quantization (1-8)", DefaultValueFactory = _ => SensitivityProbe.DefaultProbeBits };
        var output = Cli.Required("--out", "the weights file to write (JSON object {tensor name: weight})");
        var threads = new Option<int>("--threads") { Description = "ONNX Runtime intra-op threads (0: one per core)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("sensitivity", "Measure per-tensor sensitivity weights (Δloss per squared error) on validation data for pack --budget --sensitivity")
            { bundle, model, validation, probeBits, output, threads };
        cmd.SetAction(r => Cli.Run(() =>
        {
            var sets = TuneCommand.LoadValidation(r.GetValue(validation)!);
            if (r.GetValue(threads) < 0) throw new ArgumentException("--threads must be 0 (one per core) or more");
            string modelPath = r.GetValue(model)!;
            using var host = new ModelHost(r.GetValue(bundle)!, modelPath, new InferenceOptions { IntraOpThreads = r.GetValue(threads) });
            int lastPercent = -1;
            var result = SensitivityProbe.Measure(host, modelPath, sets, r.GetValue(probeBits), (task, done, total) =>
            {
                int percent = total == 0 ? 100 : 100 * done / total;
                if (percent / 10 == lastPercent / 10) return;
                lastPercent = percent;
                Console.Error.WriteLine($"  {percent,3} % ({done}/{total} tensor probes){(task.Length > 0 ? $", task {task}" : "")}");
            });
            Console.WriteLine($"validation loss of each task's own model: {string.Join(", ", result.BaseLoss.Select(b => $"{b.Key} {b.Value:F4}"))}");
            Console.WriteLine($"{"tensor",-40} {"elements",10} {"ΔL (sum)",12} {"error (sum)",12} {"weight",10}");
            foreach (var t in result.Tensors)
                Console.WriteLine($"{t.Name,-40} {t.Elements,10} {t.LossIncrease,12:E3} {t.Error,12:E3} {t.Weight,10:G4}");
            string file = r.GetValue(output)!;
            LocalFile.WriteAtomic(file, SensitivityProbe.WeightsJson(result));
            Console.WriteLine($"wrote {result.Tensors.Count} weights (probe width {result.ProbeBits} bits) to {file}; use: edgetvq-pack pack … --budget B --sensitivity {file}");
            return Cli.Ok;
        }));
        return cmd;
    }
}
