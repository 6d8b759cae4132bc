using Xunit;

namespace EdgeTvq.Checkpoints.Tests;

[Collection(PythonCheckpointsCollection.Name)]
public sealed class PickleSafetyTests(PythonCheckpoints fx)
{
    [Fact]
    public void Malicious_pickle_is_refused_and_never_runs()
    {
        string marker = fx.PathOf("MARKER");
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(fx.PathOf("malicious.pt")));
        Assert.Contains("'posix.system'", e.Message);
        Assert.Contains("malicious.pt", e.Message);
        Assert.Contains("never runs code", e.Message);
        Assert.Contains("torch.save(model.state_dict(), path)", e.Message);
        Assert.Equal(fx.PathOf("malicious.pt"), e.FilePath);
        Assert.False(File.Exists(marker), "the pickle's os.system payload ran");
    }

    public static TheoryData<string, byte[]> CallsToForeignGlobals => new()
    {
        // REDUCE: builtins.eval("...")
        { "__builtin__.eval", Pickles.Bytes((byte)0x80, 2, "c__builtin__\neval\n", Pickles.Unicode("1+1"), (byte)0x85, (byte)'R', (byte)'.') },
        // STACK_GLOBAL + REDUCE
        { "os.system", Pickles.Bytes((byte)0x80, 4, Pickles.Unicode("os"), Pickles.Unicode("system"), (byte)0x93, Pickles.Unicode("echo x"), (byte)0x85, (byte)'R', (byte)'.') },
        // INST (protocol 0): calls the class
        { "subprocess.Popen", Pickles.Bytes((byte)'(', (byte)'V', "ls\n", "isubprocess\nPopen\n", (byte)'.') },
        // OBJ (protocol 1)
        { "subprocess.Popen", Pickles.Bytes((byte)'(', "csubprocess\nPopen\n", Pickles.Unicode("ls"), (byte)'o', (byte)'.') },
        // NEWOBJ with arguments: cls.__new__(cls, *args) of a foreign class
        { "pathlib.Path", Pickles.Bytes((byte)0x80, 2, "cpathlib\nPath\n", Pickles.Unicode("/tmp"), (byte)0x85, (byte)0x81, (byte)'.') },
        // copyreg._reconstructor with a foreign base class runs base.__new__/__init__
        { "shutil.rmtree", Pickles.Bytes((byte)0x80, 2, "ccopy_reg\n_reconstructor\n", "c__main__\nNet\n", "cshutil\nrmtree\n", (byte)'N', (byte)0x87, (byte)'R', (byte)'.') },
        // Tensor-rebuild wrapper asked to call a foreign function
        { "posix.system", Pickles.Bytes((byte)0x80, 2, "ctorch._tensor\n_rebuild_from_type_v2\n", (byte)'(', "cposix\nsystem\n", "ctorch\nTensor\n", Pickles.Unicode("id"), (byte)0x85, (byte)'N', (byte)'t', (byte)'R', (byte)'.') },
    };

    [Theory]
    [MemberData(nameof(CallsToForeignGlobals))]
    public void Calls_to_globals_outside_the_allow_list_are_refused(string global, byte[] pickle)
    {
        using var dir = new TempDir();
        string path = dir.Write("evil.pt", TorchZip.Build(pickle));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains($"'{global}'", e.Message);
        Assert.Contains("evil.pt", e.Message);
    }

    [Fact]
    public void Hand_built_state_dict_with_offset_and_stride_reads()
    {
        using var dir = new TempDir();
        // storage [0..5]; tensor = storage[1:5] viewed as 2x2 transposed: offset 1, size (2,2), stride (1,2).
        byte[] pickle = Pickles.DictOf("w", Pickles.FloatTensor("0", 6, 1, [2, 2], [1, 2]));
        string path = dir.Write("hand.pt", TorchZip.Build(pickle, ("0", Pickles.Floats(0, 1, 2, 3, 4, 5))));
        using ICheckpoint ckpt = CheckpointReader.Open(path);
        Assert.Equal([1f, 3f, 2f, 4f], ckpt.Find("w")!.ToFloat32Array());
    }

    [Theory]
    [InlineData(6, 4, new[] { 3 }, new[] { 1 }, "reaches element")]          // view past the storage end
    [InlineData(2, 0, new[] { 2 }, new[] { 1 }, "holds 24 bytes")]           // storage entry size != numel * 4
    public void Inconsistent_views_and_storages_are_rejected(int numel, int offset, int[] size, int[] stride, string expected)
    {
        using var dir = new TempDir();
        byte[] pickle = Pickles.DictOf("w", Pickles.FloatTensor("0", numel, offset, size, stride));
        string path = dir.Write("bad.pt", TorchZip.Build(pickle, ("0", Pickles.Floats(0, 1, 2, 3, 4, 5))));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains(expected, e.Message);
        Assert.Equal("w", e.TensorName);
    }

    [Fact]
    public void Missing_storage_entry_is_reported()
    {
        using var dir = new TempDir();
        string path = dir.Write("nostorage.pt", TorchZip.Build(Pickles.DictOf("w", Pickles.FloatTensor("7", 2, 0, [2], [1]))));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains("archive/data/7", e.Message);
        Assert.Equal("w", e.TensorName);
    }

    [Fact]
    public void Pickle_without_tensors_is_reported()
    {
        using var dir = new TempDir();
        string path = dir.Write("empty.pt", TorchZip.Build(Pickles.Bytes((byte)0x80, 2, (byte)'}', Pickles.Unicode("epoch"), (byte)'K', 3, (byte)'s', (byte)'.')));
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(path));
        Assert.Contains("no tensors", e.Message);
    }

    [Fact]
    public void Legacy_torch_format_is_refused_with_advice()
    {
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(fx.PathOf("legacy.pt")));
        Assert.Contains("legacy", e.Message);
        Assert.Contains("Re-save", e.Message);
    }

    [Fact]
    public void Zip_without_data_pkl_is_reported()
    {
        using var dir = new TempDir();
        using (var zip = System.IO.Compression.ZipFile.Open(dir.File("other.zip.pt"), System.IO.Compression.ZipArchiveMode.Create))
            zip.CreateEntry("hello.txt");
        var e = Assert.Throws<CheckpointFormatException>(() => CheckpointReader.Open(dir.File("other.zip.pt")));
        Assert.Contains("data.pkl", e.Message);
    }

    /// <summary>Random byte mutations of a real data.pkl: reading either succeeds or throws CheckpointFormatException.</summary>
    [Fact]
    public void Mutated_pickles_never_escape_as_other_exceptions()
    {
        byte[] original = TorchZip.ReadEntry(fx.PathOf("module.pt"), "/data.pkl");
        var random = new Random(20240611);
        using var dir = new TempDir();
        for (int iteration = 0; iteration < 400; iteration++)
        {
            byte[] pickle = (byte[])original.Clone();
            int edits = random.Next(1, 4);
            for (int k = 0; k < edits; k++) pickle[random.Next(pickle.Length)] = (byte)random.Next(256);
            if (random.Next(4) == 0) pickle = pickle[..random.Next(pickle.Length)];
            string path = dir.Write($"m{iteration}.pt", TorchZip.ReplacePickle(fx.PathOf("module.pt"), pickle));
            OpenAndReadOrFormatError(path);
        }
    }

    internal static void OpenAndReadOrFormatError(string path)
    {
        try
        {
            using ICheckpoint ckpt = CheckpointReader.Open(path);
            foreach (CheckpointTensor t in ckpt.Tensors)
            {
                _ = t.RawBytes.Length;
                if (t.IsFloating && t.ElementCount < 1 << 24) t.ToFloat32Array();
            }
        }
        catch (CheckpointFormatException e)
        {
            Assert.Equal(path, e.FilePath);
            Assert.Contains(path, e.Message);
        }
    }
}
