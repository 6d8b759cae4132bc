using System.CommandLine;
using EdgeTvq.Bundle;
using Spectre.Console;

namespace EdgeTvq.Packer.Commands;

/// <summary><c>edgetvq-pack inspect</c>: sizes, bits per parameter (paper accounting and as stored), error, sparsity.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "bundle folder" };
        var json = new Option<bool>("--json") { Description = "print the full report as JSON" };
        var tensors = new Option<bool>("--tensors") { Description = "also list every tensor's storage and sizes" };
        var cmd = new Command("inspect", "Describe a bundle: sizes, bits per parameter, quantization error, sparsity") { dir, json, tensors };
        cmd.SetAction(r => Cli.Run(() =>
        {
            var report = BundleInspector.Inspect(r.GetValue(dir)!);
            if (r.GetValue(json)) Console.WriteLine(BundleInspector.ToJson(report));
            else Print(report, r.GetValue(tensors));
            return Cli.Ok;
        }));
        return cmd;
    }

    public static void Print(BundleReport b, bool perTensor)
    {
        if (Console.IsOutputRedirected && AnsiConsole.Profile.Width < 150) AnsiConsole.Profile.Width = 150; // logs and pipes: no wrapping
        string widths = b.PerTensorWidths
            ? (b.Scheme == "rtvq" ? $"per-tensor widths{(b.ErrorCorrection ? " +EC" : " no-EC")}" : "per-tensor widths")
            : b.Scheme == "rtvq" ? $"B{b.BaseBits}O{b.OffsetBits}{(b.ErrorCorrection ? " +EC" : " no-EC")}" : $"{b.Bits}-bit";
        AnsiConsole.MarkupLineInterpolated($"[bold]{b.Bundle}[/]");
        AnsiConsole.MarkupLineInterpolated($"scheme {b.Scheme.ToUpperInvariant()} {widths}, quantizer {b.Quantizer}, policy {b.Policy}; {b.TaskCount} task(s)");
        AnsiConsole.MarkupLineInterpolated($"parameters {b.Parameters:N0} ({b.QuantizedParameters:N0} quantized); bundle {Bytes(b.TotalBytes)} vs {Bytes(b.Float32Bytes)} as float32 task vectors ({(b.Float32Bytes == 0 ? 0 : 100.0 * b.TotalBytes / b.Float32Bytes):F1}%)");
        AnsiConsole.MarkupLineInterpolated($"bits per quantized parameter per task: paper {b.PaperBitsPerParameter:F3}, stored {b.StoredBitsPerQuantizedParameter:F3}");
        AnsiConsole.MarkupLineInterpolated($"stored bits per parameter per task, everything but heads (what pack --budget counts): {b.StoredBitsPerParameter:F3}");
        if (b.BaseBytes > 0) AnsiConsole.MarkupLineInterpolated($"base file {Bytes(b.BaseBytes)}");
        if (b.Grouping is { } g)
            AnsiConsole.MarkupLineInterpolated($"grouped scales (format version 4): {(g == "row" ? "one per output row" : g == "mixed" ? "group sizes differ per tensor" : $"one per {g} elements")}, {(b.GroupMode == "sign" ? "BitDelta α·sign (1 bit)" : "scale and zero point per group")}");
        if (b.PerTensorWidths)
        {
            static string Counts(List<WidthCount> w) => string.Join(", ", w.Select(x => $"{x.Bits}-bit {x.Parameters:N0}"));
            AnsiConsole.MarkupLineInterpolated($"allocation (format version 3), quantized parameters per {(b.Scheme == "rtvq" ? "offset" : "code")} width: {Counts(b.TaskWidths)}");
            if (b.BaseWidths.Count > 0) AnsiConsole.MarkupLineInterpolated($"  per base width: {Counts(b.BaseWidths)}");
            var at = new Table().Border(TableBorder.Simple);
            at.AddColumns(b.Scheme == "rtvq" ? ["tensor", "params", "base bits", "offset bits", "bytes (base + all tasks)"] : ["tensor", "params", "bits", "bytes (all tasks)"]);
            foreach (var x in b.Tensors.Where(x => x.Bits is not null))
            {
                string bytes = (x.BaseBytes + x.TaskBytesMean * b.TaskCount).ToString("N0");
                if (b.Scheme == "rtvq") at.AddRow(Markup.Escape(x.Name), x.Parameters.ToString("N0"), x.BaseBits.ToString()!, x.Bits.ToString()!, bytes);
                else at.AddRow(Markup.Escape(x.Name), x.Parameters.ToString("N0"), x.Bits.ToString()!, bytes);
            }
            AnsiConsole.Write(at);
        }

        var t = new Table().Border(TableBorder.Simple);
        t.AddColumns("task", "file", "own", "bits/param paper", "bits/q-param stored", "bits/param all", "error (Fig. 4)", "zeros τ → τ̂", "labels");
        foreach (var k in b.Tasks)
            t.AddRow(Markup.Escape(k.Name), Bytes(k.FileBytes), Bytes(k.OwnTensorBytes), k.PaperBitsPerParameter.ToString("F3"),
                k.StoredBitsPerQuantizedParameter.ToString("F3"), k.StoredBitsPerParameter.ToString("F3"),
                k.QuantizationError is { } e ? e.ToString("E3") : "-",
                k.SparsityBefore is { } s0 && k.SparsityAfter is { } s1 ? $"{100 * s0:F1}% → {100 * s1:F1}%" : "-",
                k.LabelCount.ToString());
        AnsiConsole.Write(t);

        if (!perTensor) return;
        var tt = new Table().Border(TableBorder.Simple);
        tt.AddColumns("tensor", "shape", "storage", "bits", "group", "params", "base bytes", "task bytes (mean)");
        foreach (var x in b.Tensors)
            tt.AddRow(Markup.Escape(x.Name), Markup.Escape("[" + string.Join(",", x.Shape) + "]"), Markup.Escape(x.Storage),
                x.Bits is null ? "-" : x.BaseBits is { } bb ? $"B{bb}O{x.Bits}" : x.Bits.ToString()!,
                x.Group is null ? "-" : x.BaseGroup is { } bg && bg != x.Group ? $"B{bg}O{x.Group}" : x.Group, x.Parameters.ToString("N0"),
                x.BaseBytes.ToString("N0"), x.TaskBytesMean.ToString("N0"));
        AnsiConsole.Write(tt);
    }

    public static string Bytes(long n) => n switch
    {
        >= 1L << 30 => $"{n / (double)(1L << 30):F2} GiB",
        >= 1L << 20 => $"{n / (double)(1L << 20):F2} MiB",
        >= 1L << 10 => $"{n / 1024.0:F1} KiB",
        _ => $"{n} B",
    };
}
