using EdgeTvq.Bundle;
using EdgeTvq.Format;

namespace EdgeTvq.Eval;

/// <summary>
/// A storage scheme: how the zoo's task vectors are packed. <see cref="Id"/> names the pack folder and the table
/// column; <see cref="Key"/> spells out every option, so a changed option is a new cache entry.
/// </summary>
/// <param name="Sensitive">budget schemes only: the allocator weights each tensor's error by its measured sensitivity
/// (<see cref="Runtime.Serving.SensitivityProbe"/> on the zoo's validation split, through the FP32 bundle)</param>
public sealed record StorageScheme(string Id, string Label, PackOptions Options, bool Sensitive = false)
{
    public bool IsFp32 => Options.Policy.Name == "none";

    public string Key => $"{PackOptions.SchemeName(Options.Scheme)} bits={Options.Bits} base={Options.BaseBits} offset={Options.OffsetBits} " +
                         $"ec={Options.ErrorCorrection} quantizer={PackOptions.ModeName(Options.Mode)} policy={Options.Policy.Name}" +
                         (Options.Group is { } g ? $" group={g}{(Options.Signs ? " signs" : "")}" : "") + // older keys unchanged: their packs stay cached
                         (Options.HasBudget ? $" budget={Options.BudgetBits?.ToString(System.Globalization.CultureInfo.InvariantCulture)} sensitivity={(Sensitive ? "probe" : "unit")}" : "");

    /// <summary>Bits per parameter per task in the paper's accounting: 32, b, or b_o + b_b/T; for a budget scheme, its budget (file bytes).</summary>
    public double PaperBits(int tasks) => IsFp32 ? 32 : Options.BudgetBits is { } budget ? budget
        : Options.Scheme == Scheme.Rtvq ? Options.OffsetBits!.Value + (double)Options.BaseBits!.Value / tasks : Options.Bits!.Value;

    /// <summary>
    /// Budget allocation (<c>pack --budget</c>): <paramref name="scheme"/>'s widths chosen per tensor so the files hold
    /// <paramref name="bits"/> stored bits per parameter per task; <paramref name="sensitive"/> weights the errors by
    /// measured sensitivity. Id e.g. ALLOC-RTVQ-2.5 or ALLOC-RTVQ-2.5-S.
    /// </summary>
    public static StorageScheme Alloc(Scheme scheme, double bits, bool sensitive = false)
    {
        string b = bits.ToString("0.0##", System.Globalization.CultureInfo.InvariantCulture);
        string name = PackOptions.SchemeName(scheme).ToUpperInvariant();
        return new($"ALLOC-{name}-{b}{(sensitive ? "-S" : "")}", $"{name} allocated {b} b{(sensitive ? ", sensitivity" : "")}",
            new PackOptions { Scheme = scheme, BudgetBits = bits }, sensitive);
    }

    /// <summary>Parses a uniform id of any width (TVQb, FQb, RTVQ-BbOo; b in 1–8) or an ALLOC-… id (<see cref="Alloc"/>); null if neither.</summary>
    public static StorageScheme? Parse(string id)
    {
        var u = System.Text.RegularExpressions.Regex.Match(id.ToUpperInvariant(), "^(TVQ|FQ)([1-8])$|^RTVQ-B([1-8])O([1-8])$");
        if (u.Success)
            return u.Groups[1].Value switch
            {
                "TVQ" => Tvq(int.Parse(u.Groups[2].Value)),
                "FQ" => Fq(int.Parse(u.Groups[2].Value)),
                _ => Rtvq(int.Parse(u.Groups[3].Value), int.Parse(u.Groups[4].Value)),
            };
        return ParseAlloc(id);
    }

    /// <summary>Parses an ALLOC-… id (<see cref="Alloc"/>), or null.</summary>
    public static StorageScheme? ParseAlloc(string id)
    {
        var parts = id.Split('-');
        if (parts.Length is < 3 or > 4 || !parts[0].Equals("ALLOC", StringComparison.OrdinalIgnoreCase)) return null;
        if (parts.Length == 4 && !parts[3].Equals("S", StringComparison.OrdinalIgnoreCase)) return null;
        Scheme? scheme = parts[1].ToUpperInvariant() switch { "TVQ" => Scheme.Tvq, "RTVQ" => Scheme.Rtvq, "FQ" => Scheme.Fq, _ => null };
        if (scheme is null || !double.TryParse(parts[2], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double bits)
            || !(bits > 0 && bits < 32)) return null;
        return Alloc(scheme.Value, bits, parts.Length == 4);
    }

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
