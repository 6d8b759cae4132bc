using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Bundle;

/// <summary>
/// Every reader of bundle files goes through <see cref="BundleStream"/>: a record that breaks the record-order rules of
/// section 4.3 (with valid checksums) is refused by verify, the decoder and both merge paths alike, with the same
/// message; verify and inspect read the base file once.
/// </summary>
public class BundleStreamTests : IDisposable
{
    private static readonly string[] TaskNames = ["t0", "t1", "t2"];
    private readonly TempDir _dir = new();
    private readonly string _bundle;
    private readonly MemorySource _pre;

    public BundleStreamTests()
    {
        var (pre, sources) = MemorySource.SmallModel(TaskNames.Length, seed: 11);
        _pre = pre;
        _bundle = _dir["bundle"];
        BundlePacker.Pack(pre, sources.Select((s, i) => new PackTask(TaskNames[i], s)).ToList(),
            new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, _bundle);
    }

    public void Dispose() => _dir.Dispose();

    /// <summary>A record of a file, copied out of the reader.</summary>
    private sealed record Rec(RecordKind Kind, int Bits, string Name, long[] Shape, byte[] Payload);

    /// <summary>
    /// Rewrites <paramref name="file"/> record by record through <see cref="BundleFileWriter"/> (so every checksum is
    /// valid), replacing the records <paramref name="change"/> returns non-null for, and records the new size and
    /// SHA-256 in the manifest: a file only the record-order rules can refuse.
    /// </summary>
    private void Rewrite(string file, Func<Rec, Action<BundleFileWriter>?> change)
    {
        string path = Path.Combine(_bundle, file);
        FileHeader header = default;
        var records = new List<Rec>();
        BundleFileReader.Read(path, h => header = h, (in BundleRecord r) =>
            records.Add(new Rec(r.Kind, r.Bits, r.Name, r.Shape, System.Buffers.BuffersExtensions.ToArray(r.Payload))));
        string temp = _dir["rewritten"];
        WrittenFile written;
        using (var w = new BundleFileWriter(temp, header))
        {
            foreach (var r in records)
            {
                if (change(r) is { } replace)
                {
                    replace(w);
                    continue;
                }
                switch (r.Kind)
                {
                    case RecordKind.Metadata: w.WriteMetadata(r.Payload); break;
                    case RecordKind.Quantized:
                        w.WriteQuantized(r.Name, r.Shape, new QuantParams(r.Bits, BitConverter.ToSingle(r.Payload, 0), BitConverter.ToSingle(r.Payload, 4), QuantMode.Default), r.Payload.AsSpan(8));
                        break;
                    case RecordKind.Constant: w.WriteConstant(r.Name, r.Shape, BitConverter.ToSingle(r.Payload)); break;
                    default: w.WriteFloat32(r.Name, r.Shape, System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(r.Payload), r.Kind == RecordKind.OwnFloat32); break;
                }
            }
            written = w.Complete();
        }
        File.Move(temp, path, overwrite: true);
        var m = ManifestIO.Load(_bundle);
        FileEntry entry = file == m.Base?.File ? m.Base : m.Tasks.Single(t => t.File == file);
        entry.Bytes = written.Length;
        entry.Sha256 = written.Sha256;
        ManifestIO.Save(m, _bundle);
    }

    /// <summary>The first quantized table tensor with elements that <paramref name="file"/> stores as kind 1.</summary>
    private string QuantizedTensor(string file)
    {
        var m = ManifestIO.Load(_bundle);
        var quantized = m.Tensors.Where(e => e.Storage == "quantized" && e.ElementCount > 0).Select(e => e.Name).ToHashSet();
        string? name = null;
        BundleFileReader.Read(Path.Combine(_bundle, file), null, (in BundleRecord r) =>
        {
            if (name is null && r.Kind == RecordKind.Quantized && quantized.Contains(r.Name)) name = r.Name;
        });
        return name ?? throw new InvalidOperationException($"{file} has no quantized record");
    }

    /// <summary>Verify reports exactly one problem; decoding, the fused merge (with and without a cache) and the general merge fail with it.</summary>
    private void AssertRefusedAlike(string file, string tensor, string decodedTask, params string[] expectedWords)
    {
        var m = ManifestIO.Load(_bundle);
        var problem = Assert.Single(BundleVerifier.Verify(_bundle).Problems);
        Assert.Contains(file, problem);
        Assert.Contains($"tensor '{tensor}'", problem);
        Assert.Contains("at byte", problem);
        foreach (var w in expectedWords) Assert.Contains(w, problem);

        var inspect = Assert.Throws<BundleFormatException>(() => BundleInspector.Inspect(_bundle));
        Assert.Equal(problem, inspect.Message);
        var decode = Assert.Throws<BundleFormatException>(() =>
            TaskDecoder.Decode(_bundle, m, TaskDecoder.FindTask(m, decodedTask), null, DecodeTarget.TaskVector, _ => { }));
        Assert.Equal(problem, decode.Message);
        foreach (int threads in new[] { 1, 4 })
        {
            var fused = Assert.Throws<BundleFormatException>(() => BundleMerger.Merge(_bundle, m, _pre, MergeRecipe.TaskArithmetic(TaskNames), threads: threads));
            Assert.Equal(problem, fused.Message);
        }
        using (var cache = new MergeCache(_pre, m))
        {
            var cached = Assert.Throws<BundleFormatException>(() => BundleMerger.Merge(_bundle, m, cache, MergeRecipe.TaskArithmetic(TaskNames)));
            Assert.Equal(problem, cached.Message);
        }
        var general = Assert.Throws<BundleFormatException>(() => BundleMerger.Merge(_bundle, m, _pre, MergeRecipe.Of(MergeMethod.Ties, TaskNames)));
        Assert.Equal(problem, general.Message);
    }

    [Fact]
    public void A_quantized_tensor_stored_as_nonempty_float32_is_refused_by_every_reader()
    {
        string tensor = QuantizedTensor("t1.tvqt");
        var shape = ManifestIO.Load(_bundle).Tensors.Single(e => e.Name == tensor).Shape;
        Rewrite("t1.tvqt", r => r.Name != tensor ? null
            : w => w.WriteFloat32(tensor, shape, new float[shape.Aggregate(1L, (a, d) => a * d)], ownTensor: false));
        AssertRefusedAlike("t1.tvqt", tensor, "t1", "float32", "section 4.3");
    }

    [Fact]
    public void A_task_record_with_another_bit_width_is_refused_by_every_reader()
    {
        string tensor = QuantizedTensor("t2.tvqt");
        Rewrite("t2.tvqt", r => r.Name != tensor || r.Kind != RecordKind.Quantized ? null : w =>
        {
            long elements = r.Shape.Aggregate(1L, (a, d) => a * d);
            w.WriteQuantized(tensor, r.Shape, new QuantParams(4, 0.01f, 8f, QuantMode.Default), new byte[(elements * 4 + 7) / 8]);
        });
        AssertRefusedAlike("t2.tvqt", tensor, "t2", "4-bit codes, the manifest says 2");
    }

    [Fact]
    public void A_base_record_with_another_bit_width_is_refused_by_every_reader()
    {
        string tensor = QuantizedTensor("base.tvqb");
        Rewrite("base.tvqb", r => r.Name != tensor || r.Kind != RecordKind.Quantized ? null : w =>
        {
            long elements = r.Shape.Aggregate(1L, (a, d) => a * d);
            w.WriteQuantized(tensor, r.Shape, new QuantParams(8, 0.01f, 128f, QuantMode.Default), new byte[elements]);
        });
        AssertRefusedAlike("base.tvqb", tensor, "t0", "8-bit codes, the manifest says 3");
    }

    [Fact]
    public void An_own_tensor_in_the_table_kind_is_refused_by_every_reader()
    {
        string tensor = QuantizedTensor("t0.tvqt");
        var shape = ManifestIO.Load(_bundle).Tensors.Single(e => e.Name == tensor).Shape;
        Rewrite("t0.tvqt", r => r.Name != tensor ? null
            : w => w.WriteFloat32(tensor, shape, new float[shape.Aggregate(1L, (a, d) => a * d)], ownTensor: true));
        AssertRefusedAlike("t0.tvqt", tensor, "t0", "OwnFloat32");
    }

    [Fact]
    public void Verify_and_inspect_open_the_base_file_once()
    {
        var opened = new List<string>();
        BundleStream.FileOpened.Value = path => { lock (opened) opened.Add(Path.GetFileName(path)); };
        try
        {
            Assert.True(BundleVerifier.Verify(_bundle).Ok);
            Assert.Equal(["base.tvqb", "t0.tvqt", "t1.tvqt", "t2.tvqt"], opened.Order(StringComparer.Ordinal));
            opened.Clear();
            BundleInspector.Inspect(_bundle);
            Assert.Equal(["base.tvqb", "t0.tvqt", "t1.tvqt", "t2.tvqt"], opened.Order(StringComparer.Ordinal));
        }
        finally { BundleStream.FileOpened.Value = null; }
    }

    [Fact]
    public void Verify_reports_each_damaged_file_and_checks_the_others_to_the_end()
    {
        foreach (var file in new[] { "t0.tvqt", "t2.tvqt" })
        {
            string path = Path.Combine(_bundle, file);
            var bytes = File.ReadAllBytes(path);
            bytes[^30] ^= 0x10; // inside the last record: found only near the end of the pass
            File.WriteAllBytes(path, bytes);
        }
        var result = BundleVerifier.Verify(_bundle);
        Assert.Equal(2, result.Problems.Count);
        Assert.Contains(result.Problems, p => p.StartsWith("t0.tvqt", StringComparison.Ordinal));
        Assert.Contains(result.Problems, p => p.StartsWith("t2.tvqt", StringComparison.Ordinal));
        Assert.Equal(3, result.FilesChecked); // manifest, base, t1
    }
}
