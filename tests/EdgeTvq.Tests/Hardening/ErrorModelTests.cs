using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Hardening;

/// <summary>One error model: every input error derives from EdgeTvqInputException (file, tensor, offset), and one mapper gives both CLIs and serve their exit code or answer.</summary>
public class ErrorModelTests
{
    public static TheoryData<Exception, int?> Cases => new()
    {
        { new BundleFormatException("b/t.tvqt", "record checksum mismatch", "w", 120), ExitCodes.Failed },
        { new CheckpointFormatException("m.pt", "w", "m.pt: damaged"), ExitCodes.Failed },
        { new InvalidDataException("x.png: not a PNG"), ExitCodes.Failed },
        { new FileNotFoundException("missing"), ExitCodes.Failed },
        { new ArgumentException("--lambda 'NaN' is not a number"), ExitCodes.BadUsage },
        { new ArgumentOutOfRangeException("k", "k must lie in (0, 1]"), ExitCodes.BadUsage },
        { new InvalidOperationException("SVD did not converge"), ExitCodes.Failed },
        { new NullReferenceException(), null },
        { new IndexOutOfRangeException(), null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Expected_failures_map_to_one_exit_code_and_bugs_to_none(Exception e, int? code) => Assert.Equal(code, ExitCodes.For(e));

    [Fact]
    public void Input_errors_carry_file_tensor_and_offset_through_one_base()
    {
        EdgeTvqInputException e = new BundleFormatException("bundle/t.tvqt", "payload too long", "blocks.0.w", 4096);
        Assert.Equal(("bundle/t.tvqt", "blocks.0.w", 4096L), (e.FilePath, e.TensorName, e.Offset!.Value));
        Assert.Equal("t.tvqt, tensor 'blocks.0.w' at byte 4096: payload too long", e.Message);
    }

    [Fact]
    public void A_wrong_pretrained_model_is_bad_input_exit_1_not_bad_usage()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(2, seed: 1);
        var (otherPre, _) = MemorySource.SmallModel(1, seed: 2);
        var m = BundlePacker.Pack(pre, tasks.Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        var e = Assert.Throws<BundleFormatException>(() => TaskDecoder.CheckIdentity(otherPre, m));
        Assert.Equal(ExitCodes.Failed, ExitCodes.For(e));
        Assert.Contains("not the pretrained model this bundle was made against", e.Message);
    }
}
