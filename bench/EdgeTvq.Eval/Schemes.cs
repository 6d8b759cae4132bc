using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Eval;

/// <summary>
/// A storage scheme: how the zoo's task vectors are packed. <see cref="Id"/> names the pack folder and the table
/// column; <see cref="Key"/> spells out every option, so a changed option is a new cache entry.
/// </summary>
public sealed record StorageScheme(string Id, string Label, PackOptions Options)
{
    public bool IsFp32 => Options.Policy.Name == "none";

    public string Key => $"{PackOptions.SchemeName(Options.Scheme)} bits={Options.Bits} base={Options.BaseBits} offset={Options.OffsetBits} " +
                         $"ec={Options.ErrorCorrection} quantizer={PackOptions.ModeName(Options.Mode)} policy={Options.Policy.Name}";

    /// <summary>Bits per parameter per task in the paper's accounting: 32, b, or b_o + b_b/T.</summary>
    public double PaperBits(int tasks) => IsFp32 ? 32 : Options.Scheme == Scheme.Rtvq ? Options.OffsetBits!.Value + (double)Options.BaseBits!.Value / tasks : Options.Bits!.Value;

    public static StorageScheme Fp32 { get; } = new("FP32", "FP32", new PackOptions { Scheme = Scheme.Tvq, Bits = 8, Policy = TensorPolicy.Parse("none") });
    public static StorageScheme Fq(int bits) => new($"FQ{bits}", $"FQ INT{bits}", new PackOptions { Scheme = Scheme.Fq, Bits = bits });
    public static StorageScheme Tvq(int bits) => new($"TVQ{bits}", $"TVQ INT{bits}", new PackOptions { Scheme = Scheme.Tvq, Bits = bits });
    public static StorageScheme Rtvq(int baseBits, int offsetBits) =>
        new($"RTVQ-B{baseBits}O{offsetBits}", $"RTVQ B{baseBits}O{offsetBits}", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = baseBits, OffsetBits = offsetBits });

    /// <summary>The columns of the paper's Tables 1–2 and B–C.</summary>
    public static IReadOnlyList<StorageScheme> Main { get; } = [Fp32, Fq(8), Fq(4), Tvq(8), Tvq(4), Tvq(3), Tvq(2), Rtvq(3, 2)];

    /// <summary>The paper's Table A grid: base and offset widths 2, 3, 4, 8 (16 settings, B3O2 included).</summary>
    public static IReadOnlyList<int> GridBits { get; } = [2, 3, 4, 8];

    public static IReadOnlyList<StorageScheme> Grid { get; } = GridBits.SelectMany(b => GridBits.Select(o => Rtvq(b, o))).ToList();
}
