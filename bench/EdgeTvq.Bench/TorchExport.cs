using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Packing;
using EdgeTvq.Quantization;

namespace EdgeTvq.Bench;

/// <summary>
/// The merge benchmark's bundle in a layout PyTorch loads without EdgeTvq (torch_merge.py): θ_pre as float32
/// (pre.f32, tensors in the manifest's order), and per quantized file (base.bin, taskNN.bin) each tensor's record as
/// one uint8 code per parameter, float32 values, or nothing for a constant; index.json gives shapes, offsets, and the
/// scale and zero point in the authors' convention, x̂ = (q − zp) / scale (scale in levels per unit). Every file is
/// read through a <see cref="BundleStream"/>, so the export is checksum-verified like a merge. Written once next
/// to the bundle; index.json is written last and marks a complete export.
/// </summary>
internal static class TorchExport
{
    public static string Ensure(string bundle, string pretrainedPath)
    {
        string dir = Path.Combine(Path.GetDirectoryName(bundle)!, "torch");
        string indexPath = Path.Combine(dir, "index.json");
        if (File.Exists(indexPath)) return dir;
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        Directory.CreateDirectory(dir);
        Console.WriteLine($"exporting the bundle's codes, scales and zero points and θ_pre for PyTorch into {dir} (once)…");

        var m = ManifestIO.Load(bundle);
        var o = ManifestIO.OptionsOf(m);
        var stored = m.Tensors.Where(e => e.Storage != "skipped").ToList();
        using (var pre = new CheckpointTensorSource(pretrainedPath))
        using (var output = File.Create(Path.Combine(dir, "pre.f32")))
        {
            foreach (var e in stored)
            {
                var values = new float[e.ElementCount];
                pre.ReadFloat32(e.Name, values);
                output.Write(MemoryMarshal.AsBytes(values.AsSpan()));
            }
        }

        Dictionary<string, object>? baseEntry = null;
        if (m.Base is not null)
        {
            baseEntry = ExportFile(bundle, m, null, o.Mode, Path.Combine(dir, "base.bin"), quantizedOnly: true);
        }
        var tasks = m.Tasks.Select(t => ExportFile(bundle, m, t, o.Mode, Path.Combine(dir, t.Name + ".bin"), quantizedOnly: false)).ToList();

        var index = new Dictionary<string, object?>
        {
            ["scheme"] = m.Scheme,
            ["pretrained"] = "pre.f32",
            ["tensors"] = stored.Select(e => new Dictionary<string, object> { ["name"] = e.Name, ["shape"] = e.Shape, ["count"] = e.ElementCount }).ToList(),
            ["base"] = baseEntry,
            ["tasks"] = tasks,
        };
        File.WriteAllText(indexPath + ".tmp", JsonSerializer.Serialize(index));
        File.Move(indexPath + ".tmp", indexPath);
        return dir;
    }

    /// <summary>Exports task <paramref name="task"/>'s file, or the base file when it is null.</summary>
    private static Dictionary<string, object> ExportFile(string bundle, BundleManifest m, TaskEntry? task, QuantMode mode, string path, bool quantizedOnly)
    {
        using var stream = task is null ? BundleStream.Open(bundle, m, []) : BundleStream.Open(bundle, m, [task], readBase: false);
        var list = new List<Dictionary<string, object>>();
        using var output = File.Create(path);
        while (stream.MoveNext())
        {
            var e = stream.Current;
            if (quantizedOnly && e.Storage != "quantized")
            {
                list.Add(new() { ["kind"] = "none" });
                continue;
            }
            var r = task is null ? stream.BaseRecord!.Value : stream.TaskRecord(0);
            // 64-byte aligned offsets, so float32 views need no copy.
            output.Write(new byte[(int)((64 - output.Position % 64) % 64)]);
            long offset = output.Position;
            switch (r.Kind)
            {
                case RecordKind.Quantized:
                    {
                        var p = r.QuantParams(mode);
                        var packed = r.Codes.ToArray();
                        var codes = new byte[r.ElementCount];
                        CodeUnpacker.Unpack(packed, r.Bits, codes);
                        output.Write(codes);
                        // The authors' scale s is levels per unit: x̂ = (q − z)/s. Our default mode stores the step Δ = 1/s.
                        double scale = mode == QuantMode.Reference ? p.Scale : 1.0 / p.Scale;
                        list.Add(new() { ["kind"] = "quantized", ["offset"] = offset, ["scale"] = (float)scale, ["zero_point"] = p.ZeroPoint });
                        break;
                    }
                case RecordKind.Constant:
                    list.Add(new() { ["kind"] = "constant", ["value"] = r.ConstantValue });
                    break;
                case RecordKind.Grouped:
                    {
                        // Grouped scales (format version 4): exported dequantized, as float32 values.
                        var values = new float[r.ElementCount];
                        r.DecodeTo(values, mode);
                        output.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
                        list.Add(new() { ["kind"] = "float32", ["offset"] = offset });
                        break;
                    }
                default:
                    output.Write(r.Payload.ToArray());
                    list.Add(new() { ["kind"] = "float32", ["offset"] = offset });
                    break;
            }
        }
        stream.Finish();
        return new() { ["file"] = Path.GetFileName(path), ["records"] = list };
    }
}
