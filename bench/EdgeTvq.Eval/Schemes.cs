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
                         $"ec={Options.ErrorCorrection} quantizer={PackOptions.ModeName(Options.Mode)} policy={Options.Policy.Name}" +
                         (Options.Group is { } g ? $" group={g}{(Options.Signs ? " signs" : "")}" : ""); // older keys unchanged: their packs stay cached

    /// <summary>Bits per parameter per task in the paper's accounting: 32, b, or b_o + b_b/T.</summary>
    public double PaperBits(int tasks) => IsFp32 ? 32 : Options.Scheme == Scheme.Rtvq ? Options.OffsetBits!.Value + (double)Options.BaseBits!.Value / tasks : Options.Bits!.Value;

    public static StorageScheme Fp32 { get; } = new("FP32", "FP32", new PackOptions { Scheme = Scheme.Tvq, Bits = 8, Policy = TensorPolicy.Parse("none") });
    public static StorageScheme Fq(int bits) => new($"FQ{bits}", $"FQ INT{bits}", new PackOptions { Scheme = Scheme.Fq, Bits = bits });
    public static StorageScheme Tvq(int bits) => new($"TVQ{bits}", $"TVQ INT{bits}", new PackOptions { Scheme = Scheme.Tvq, Bits = bits });
    public static StorageScheme Rtvq(int baseBits, int offsetBits) =>
        new($"RTVQ-B{baseBits}O{offsetBits}", $"RTVQ B{baseBits}O{offsetBits}", new PackOptions { Scheme = Scheme.Rtvq, BaseBits = baseBits, OffsetBits = offsetBits });

    /// <summary>Group-wise scales (format version 4): TVQ2-G128, TVQ2-ROW; the suffix names the grouping.</summary>
    public static StorageScheme TvqGrouped(int bits, GroupSpec group) =>
        new($"TVQ{bits}-{GroupId(group)}", $"TVQ INT{bits} {GroupLabel(group)}", new PackOptions { Scheme = Scheme.Tvq, Bits = bits, Group = group });
    public static StorageScheme RtvqGrouped(int baseBits, int offsetBits, GroupSpec group) =>
        new($"RTVQ-B{baseBits}O{offsetBits}-{GroupId(group)}", $"RTVQ B{baseBits}O{offsetBits} {GroupLabel(group)}",
            new PackOptions { Scheme = Scheme.Rtvq, BaseBits = baseBits, OffsetBits = offsetBits, Group = group });
    /// <summary>BitDelta: 1 bit per parameter, x̂ = α·sign(τ) with α = mean |τ| per output row.</summary>
    public static StorageScheme BitDelta { get; } = new("BITDELTA", "BitDelta (α·sign, per row)",
        new PackOptions { Scheme = Scheme.Tvq, Bits = 1, Signs = true, Group = GroupSpec.Row });

    private static string GroupId(GroupSpec g) => g.IsRow ? "ROW" : $"G{g.Size}";
    private static string GroupLabel(GroupSpec g) => g.IsRow ? "per row" : $"per {g.Size}";

    /// <summary>The group-wise comparison (docs/quantizer.md, "Group-wise scales"): select with <c>--schemes grouped</c> or by id.</summary>
    public static IReadOnlyList<StorageScheme> Grouped { get; } =
        [TvqGrouped(2, new GroupSpec(128)), TvqGrouped(2, GroupSpec.Row), TvqGrouped(3, GroupSpec.Row), RtvqGrouped(2, 1, GroupSpec.Row), RtvqGrouped(3, 2, GroupSpec.Row), BitDelta];

    /// <summary>The columns of the paper's Tables 1–2 and B–C.</summary>
    public static IReadOnlyList<StorageScheme> Main { get; } = [Fp32, Fq(8), Fq(4), Tvq(8), Tvq(4), Tvq(3), Tvq(2), Rtvq(3, 2)];

    /// <summary>The paper's Table A grid: base and offset widths 2, 3, 4, 8 (16 settings, B3O2 included).</summary>
    public static IReadOnlyList<int> GridBits { get; } = [2, 3, 4, 8];

    public static IReadOnlyList<StorageScheme> Grid { get; } = GridBits.SelectMany(b => GridBits.Select(o => Rtvq(b, o))).ToList();
}
