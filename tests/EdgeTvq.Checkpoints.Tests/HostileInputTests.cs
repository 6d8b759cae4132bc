using System.Buffers.Binary;
using System.Diagnostics;
using System.IO.Compression;
using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

/// <summary>
/// The holes a hostile-input review found in the checkpoint readers: ONNX external data that escapes the model's
/// folder through a symbolic link or names a non-regular file, .pt entries whose bytes fail their CRC-32, zip bombs,
/// and pickles that allocate functions as if they were model classes.
/// </summary>
[Collection(PythonCheckpointsCollection.Name)]
public sealed class HostileInputTests(PythonCheckpoints fx)
{
    private const int Float = 1;

    private static byte[] ExternalModel(string location) =>
        ProtoWriter.Model(ProtoWriter.Tensor("w", Float, 2).Message(13, ProtoWriter.Entry("location", location)).Varint(14, 1));

    /// <summary>A folder "outside" holding secret.bin (8 bytes) and a model folder "model" beside it.</summary>
    private static (TempDir Root, string ModelDir, string Secret) Layout()
    {
        var root = new TempDir();
        Directory.CreateDirectory(root.File("outside"));
        Directory.CreateDirectory(root.File("model"));
        string secret = Path.Combine(root.File("outside"), "secret.bin");
        File.WriteAllBytes(secret, [1, 2, 3, 4, 5, 6, 7, 8]);
        return (root, root.File("model"), secret);
    }

    [Fact]
    public void External_data_through_a_symlink_to_a_file_outside_the_folder_is_refused()
    {
        var (root, modelDir, secret) = Layout();
        using (root)
        {
            File.CreateSymbolicLink(Path.Combine(modelDir, "w.bin"), secret);
            string model = Path.Combine(modelDir, "m.onnx");
            File.WriteAllBytes(model, ExternalModel("w.bin"));
            var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(model));
            Assert.Contains("symbolic link", e.Message);
            Assert.Contains("outside the model's folder", e.Message);
            Assert.Equal("w", e.TensorName);
        }
    }

    [Fact]
    public void External_data_through_a_symlinked_directory_is_refused()
    {
        var (root, modelDir, _) = Layout();
        using (root)
        {
            Directory.CreateSymbolicLink(Path.Combine(modelDir, "data"), root.File("outside"));
            string model = Path.Combine(modelDir, "m.onnx");
            File.WriteAllBytes(model, ExternalModel("data/secret.bin"));
            var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(model));
            Assert.Contains("outside the model's folder", e.Message);
        }
    }

    [Fact]
    public void A_symlink_that_stays_inside_the_folder_is_followed()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("blobs"));
        var data = new byte[8];
        BitConverter.GetBytes(1.5f).CopyTo(data, 0);
        BitConverter.GetBytes(-2f).CopyTo(data, 4);
        dir.Write("blobs/w.bin", data);
        File.CreateSymbolicLink(dir.File("w.bin"), "blobs/w.bin");
        string model = dir.Write("m.onnx", ExternalModel("w.bin"));
        using ICheckpoint ckpt = CheckpointReader.Open(model);
        Assert.Equal([1.5f, -2f], ckpt.Find("w")!.ToFloat32Array());
    }

    [Fact]
    public void External_data_on_a_device_or_fifo_is_refused_by_name()
    {
        using var dir = new TempDir();
        File.CreateSymbolicLink(dir.File("zero.bin"), "/dev/zero");
        string model = dir.Write("m.onnx", ExternalModel("zero.bin"));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(model));
        Assert.Contains("zero.bin", e.Message);
        Assert.Contains("outside the model's folder", e.Message);

        MakeFifo(dir.File("pipe.bin"));
        model = dir.Write("p.onnx", ExternalModel("pipe.bin"));
        e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(model)); // must not block on the FIFO
        Assert.Contains("pipe.bin", e.Message);
        Assert.Contains("FIFO", e.Message);
    }

    [Fact]
    public void A_checkpoint_path_that_is_not_a_regular_file_is_refused()
    {
        using var dir = new TempDir();
        MakeFifo(dir.File("model.pt"));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(dir.File("model.pt")));
        Assert.Contains("FIFO", e.Message);
        e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open("/dev/zero"));
        Assert.Contains("character device", e.Message);
    }

    internal static void MakeFifo(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    [Fact]
    public void A_pt_whose_stored_tensor_bytes_are_damaged_fails_its_crc()
    {
        using var dir = new TempDir();
        byte[] file = File.ReadAllBytes(fx.PathOf("tiny.pt"));
        using (ICheckpoint ok = CheckpointReader.Open(dir.Write("ok.pt", file))) Assert.NotEmpty(ok.Tensors);

        int data = StoredEntryData(file, "/data/0");
        file[data] ^= 0x40; // one bit of the first stored tensor value
        string bad = dir.Write("bad.pt", file);
        var e = Assert.Throws<CheckpointFormatException>(() =>
        {
            using ICheckpoint c = CheckpointReader.Open(bad);
        });
        Assert.Contains("CRC-32", e.Message);
        Assert.Contains("bad.pt", e.Message);
    }

    /// <summary>Offset of the data of the stored (uncompressed) local zip entry whose name ends in <paramref name="suffix"/>.</summary>
    private static int StoredEntryData(byte[] zip, string suffix)
    {
        for (int at = 0; at + 30 < zip.Length; at++)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(zip.AsSpan(at)) != 0x04034b50) continue;
            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 26));
            int extraLength = BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 28));
            string name = System.Text.Encoding.UTF8.GetString(zip, at + 30, nameLength);
            if (name.EndsWith(suffix, StringComparison.Ordinal))
            {
                Assert.Equal(0, BinaryPrimitives.ReadUInt16LittleEndian(zip.AsSpan(at + 8))); // stored, not deflated
                return at + 30 + nameLength + extraLength;
            }
        }
        throw new InvalidOperationException($"no entry ending in {suffix}");
    }

    [Fact]
    public void A_zip_with_two_entries_of_one_name_is_refused()
    {
        using var dir = new TempDir();
        string path = dir.File("twice.pt");
        using (var source = ZipFile.OpenRead(fx.PathOf("tiny.pt")))
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            foreach (var entry in source.Entries)
            {
                using var data = new MemoryStream();
                using (var s = entry.Open()) s.CopyTo(data);
                // Storages twice: the second copy, damaged, would never be read (nor CRC-checked) by a name lookup.
                int copies = entry.FullName.Contains("/data/", StringComparison.Ordinal) ? 2 : 1;
                for (int c = 0; c < copies; c++)
                {
                    var bytes = data.ToArray();
                    if (c == 1 && bytes.Length > 0) bytes[0] ^= 0xFF;
                    var copy = zip.CreateEntry(entry.FullName, CompressionLevel.NoCompression);
                    using var w = copy.Open();
                    w.Write(bytes);
                }
            }
        }
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains("two entries named", e.Message);
    }

    /// <summary>tiny.pt's entries plus one more: entries nobody reads must still not hide damage or size.</summary>
    private string WithExtraEntry(TempDir dir, string name, byte[] content)
    {
        string path = dir.File("extra.pt");
        using var source = ZipFile.OpenRead(fx.PathOf("tiny.pt"));
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var entry in source.Entries)
        {
            var copy = zip.CreateEntry(entry.FullName, CompressionLevel.NoCompression);
            using var r = entry.Open();
            using var w = copy.Open();
            r.CopyTo(w);
        }
        var extra = zip.CreateEntry(name, CompressionLevel.NoCompression);
        using (var w = extra.Open()) w.Write(content);
        return path;
    }

    [Fact]
    public void A_folder_entry_with_content_is_refused()
    {
        using var dir = new TempDir();
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(WithExtraEntry(dir, "tiny/", [1, 2])));
        Assert.Contains("a folder has none", e.Message);
    }

    [Fact]
    public void A_bookkeeping_entry_over_a_mebibyte_is_refused()
    {
        using var dir = new TempDir();
        string prefix;
        using (var z = ZipFile.OpenRead(fx.PathOf("tiny.pt"))) prefix = z.Entries.First(x => x.FullName.EndsWith("/data.pkl", StringComparison.Ordinal)).FullName[..^"data.pkl".Length];
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(WithExtraEntry(dir, prefix + "notes", new byte[(1 << 20) + 1])));
        Assert.Contains("above the 1048576-byte limit", e.Message);
    }

    [Fact]
    public void A_deflated_pickle_that_inflates_far_beyond_its_size_is_refused_before_it_is_inflated()
    {
        using var dir = new TempDir();
        // A valid tiny pickle followed by 64 MiB of zeros after STOP, deflated to about 64 KB.
        byte[] pickle = TorchZip.ReadEntry(fx.PathOf("tiny.pt"), "data.pkl");
        var padded = new byte[pickle.Length + (64 << 20)];
        pickle.CopyTo(padded, 0);
        string path = dir.File("bomb.pt");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create))
        {
            var entry = zip.CreateEntry("archive/data.pkl", CompressionLevel.SmallestSize);
            using (var s = entry.Open()) s.Write(padded);
            var version = zip.CreateEntry("archive/version", CompressionLevel.NoCompression);
            using (var s = version.Open()) s.Write("3\n"u8);
        }
        Assert.True(new FileInfo(path).Length < 1 << 20);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains("expand", e.Message);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 16 << 20, "the reader inflated the entry before refusing it");
    }

    /// <summary>{"payload": cls.__new__(cls)} by NEWOBJ with no arguments, as a whole-module pickle allocates its classes.</summary>
    private static byte[] Allocates(string global) =>
        Pickles.Bytes((byte)0x80, 2, (byte)'}', Pickles.Unicode("payload"), "c" + global.Replace('.', '\n') + "\n", (byte)')', (byte)0x81, (byte)'s', (byte)'.');

    [Theory]
    [InlineData("os.system")]           // a function: was accepted as an inert object
    [InlineData("posix.system")]
    [InlineData("subprocess.Popen")]    // a CapWords class, but in a module that runs programs
    [InlineData("builtins.Exception")]
    public void NEWOBJ_of_a_function_or_system_class_is_refused(string global)
    {
        using var dir = new TempDir();
        string path = dir.Write("evil.pt", TorchZip.Build(Allocates(global)));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains($"'{global}'", e.Message);
        Assert.Contains("never runs code", e.Message);
    }

    [Fact]
    public void A_whole_module_pickle_still_reads()
    {
        using ICheckpoint ckpt = CheckpointReader.Open(fx.PathOf("module.pt"));
        TensorAssert.Matches(fx.Reference["module.pt"], ckpt);
    }
}
