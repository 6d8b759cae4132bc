using EdgeTvq.Format;
using EdgeTvq.Quantization;
using System.Globalization;

namespace EdgeTvq.Bundle;

/// <summary>What to store: scheme, widths, error correction, quantizer mode and tensor policy.</summary>
public sealed record PackOptions
{
    public Scheme Scheme { get; init; } = Scheme.Tvq;
    /// <summary>FQ/TVQ width.</summary>
    public int? Bits { get; init; }
    /// <summary>RTVQ base width b_b.</summary>
    public int? BaseBits { get; init; }
    /// <summary>RTVQ offset width b_o.</summary>
    public int? OffsetBits { get; init; }
    /// <summary>RTVQ: offsets against dequant(base) + θ_pre (Eq. 6). On by default.</summary>
    public bool ErrorCorrection { get; init; } = true;
    public QuantMode Mode { get; init; } = QuantMode.Default;
    public TensorPolicy Policy { get; init; } = TensorPolicy.Default;
    /// <summary>
    /// Cores that quantize the tasks of one tensor at once (0: every core). Not part of the bundle: each task's
    /// records are computed alone and written to its own file, so the bytes do not depend on it (tested).
    /// </summary>
    public int Threads { get; init; }
    /// <summary>
    /// Budget allocation (<c>pack --budget</c>): average stored bits per parameter per task, base included, counted in
    /// file bytes (<see cref="BudgetPlanner"/>). The packer then chooses each quantized tensor's widths; not stored.
    /// </summary>
    public double? BudgetBits { get; init; }
    /// <summary>Budget allocation (<c>pack --budget-bytes</c>): the same budget as a byte count of the files.</summary>
    public long? BudgetBytes { get; init; }
    /// <summary>Budget allocation: a weight per tensor name multiplying its measured squared error (1 for tensors not listed).</summary>
    public IReadOnlyDictionary<string, double>? Sensitivity { get; init; }

    /// <summary>
    /// Group-wise scales (<c>pack --group row|G</c>, format version 4): one scale and zero point per output row or per G
    /// elements of every quantized tensor, task records and RTVQ base alike. Resolved into each table entry's
    /// <c>group</c>/<c>baseGroup</c>/<c>offsetGroup</c> by <see cref="ApplyGroups"/>; null: one scale per tensor.
    /// </summary>
    public GroupSpec? Group { get; init; }
    /// <summary>BitDelta (<c>--scheme bitdelta</c>): TVQ at 1 bit with x̂ = α_g·sign(τ), α_g = mean |τ| over the group (manifest <c>groupMode: "sign"</c>).</summary>
    public bool Signs { get; init; }

    /// <summary>Grouping of tensor <paramref name="e"/>'s task records (its <c>group</c>, or <c>offsetGroup</c> for rtvq); null: kind 1.</summary>
    public Grouping? TaskGroupOf(TensorEntry e) =>
        (Scheme == Scheme.Rtvq ? e.OffsetGroup : e.Group) is int g ? new Grouping(g, Signs ? GroupMode.Sign : GroupMode.Affine) : null;

    /// <summary>RTVQ: grouping of tensor <paramref name="e"/>'s base record (its <c>baseGroup</c>); null: kind 1.</summary>
    public static Grouping? BaseGroupOf(TensorEntry e) => e.BaseGroup is int g ? new Grouping(g, GroupMode.Affine) : null;

    /// <summary>Writes <see cref="Group"/> (for BitDelta by default one per row), resolved per tensor (a row is the elements after the first dimension), into every quantized, non-empty table entry.</summary>
    public void ApplyGroups(IEnumerable<TensorEntry> table)
    {
        if ((Group ?? (Signs ? GroupSpec.Row : null)) is not { } spec) return;
        foreach (var e in table.Where(e => e.Storage == "quantized" && e.ElementCount > 0))
        {
            int g = spec.IsRow ? GroupQuantizer.RowLength(e.Shape) : spec.Size;
            if (Scheme == Scheme.Rtvq) (e.BaseGroup, e.OffsetGroup) = (g, g);
            else e.Group = g;
        }
    }

    /// <summary>Whether the widths are to be chosen by budget allocation.</summary>
    public bool HasBudget => BudgetBits is not null || BudgetBytes is not null;

    /// <summary>Width of the codes in task files.</summary>
    public int TaskBits => Scheme == Scheme.Rtvq ? OffsetBits!.Value : Bits!.Value;

    /// <summary>Width of tensor <paramref name="e"/>'s codes in task files: its own (format version 3), else the bundle's.</summary>
    public int TaskBitsOf(TensorEntry e) => Scheme == Scheme.Rtvq ? e.OffsetBits ?? OffsetBits!.Value : e.Bits ?? Bits!.Value;

    /// <summary>RTVQ: width of tensor <paramref name="e"/>'s base record: its own (format version 3), else the bundle's.</summary>
    public int BaseBitsOf(TensorEntry e) => e.BaseBits ?? BaseBits!.Value;

    public void Validate()
    {
        if (Group is not null && Mode == QuantMode.Reference)
            throw new ArgumentException("group-wise scales use the default quantizer (the step per group); drop --quantizer reference or --group");
        if (Signs && (Scheme != Scheme.Tvq || HasBudget || Bits is not (null or 1)))
            throw new ArgumentException("bitdelta is TVQ at 1 bit with one α per group (default: per row); it takes --group but not --bits, --budget or another scheme");
        if (HasBudget)
        {
            if (BudgetBits is not null && BudgetBytes is not null) throw new ArgumentException("give --budget or --budget-bytes, not both");
            if (BudgetBits is { } bb && !(bb > 0 && double.IsFinite(bb))) throw new ArgumentException($"--budget must be a positive number of bits per parameter, got {bb}");
            if (BudgetBytes is <= 0) throw new ArgumentException($"--budget-bytes must be positive, got {BudgetBytes}");
            if (Bits is not null || BaseBits is not null || OffsetBits is not null)
                throw new ArgumentException("--budget chooses every tensor's widths; drop --bits/--base-bits/--offset-bits");
            if (Policy.Name == "none") throw new ArgumentException("--budget allocates quantized tensors' widths; policy 'none' quantizes none");
            foreach (var (name, w) in Sensitivity ?? new Dictionary<string, double>())
                if (!(w >= 0 && double.IsFinite(w))) throw new ArgumentException($"sensitivity of tensor '{name}' is {w}; weights must be finite and ≥ 0");
            return;
        }
        if (Sensitivity is not null) throw new ArgumentException("--sensitivity weights the budget allocation; it needs --budget or --budget-bytes");
        static void CheckWidth(string what, int? b)
        {
            if (b is null) throw new ArgumentException($"{what} is required");
            if (b is < 1 or > 8) throw new ArgumentException($"{what} must be between 1 and 8, got {b}");
        }
        if (Scheme == Scheme.Rtvq)
        {
            CheckWidth("--base-bits", BaseBits);
            CheckWidth("--offset-bits", OffsetBits);
            if (Bits is not null) throw new ArgumentException("RTVQ takes --base-bits and --offset-bits, not --bits");
        }
        else
        {
            CheckWidth("--bits", Bits);
            if (BaseBits is not null || OffsetBits is not null) throw new ArgumentException($"{SchemeName(Scheme)} takes --bits; --base-bits/--offset-bits are for rtvq");
        }
    }

    /// <summary>The scheme as <c>inspect</c> names it: fq, tvq, rtvq, or bitdelta for sign groups.</summary>
    public string DisplayScheme => Signs ? "bitdelta" : SchemeName(Scheme);

    public static string SchemeName(Scheme s) => s switch { Scheme.Fq => "fq", Scheme.Tvq => "tvq", _ => "rtvq" };

    public static Scheme ParseScheme(string s) => s.ToLowerInvariant() switch
    {
        "fq" => Scheme.Fq,
        "tvq" => Scheme.Tvq,
        "rtvq" => Scheme.Rtvq,
        _ => throw new ArgumentException($"unknown scheme '{s}'; use fq, tvq or rtvq (pack also takes bitdelta)"),
    };

    public static string ModeName(QuantMode m) => m == QuantMode.Reference ? "reference" : "default";

    public static QuantMode ParseMode(string s) => s switch
    {
        "default" => QuantMode.Default,
        "reference" => QuantMode.Reference,
        _ => throw new ArgumentException($"unknown quantizer '{s}'; use default or reference"),
    };

    /// <summary>Applies the authors' quantize_config.json keys on top of these options.</summary>
    public PackOptions With(QuantizeConfig c)
    {
        var o = this;
        bool residual = c.QuantizeResidual ?? false;
        if (c.QuantizeTarget is { } target)
        {
            o = target switch
            {
                "finetuned_model" => residual ? throw new ArgumentException("quantize_residual applies to quantize_target \"task_vector\" only") : o with { Scheme = Scheme.Fq },
                "task_vector" => o with { Scheme = residual ? Scheme.Rtvq : Scheme.Tvq },
                _ => throw new ArgumentException($"quantize_target must be \"finetuned_model\" or \"task_vector\", got \"{target}\""),
            };
        }
        else if (residual) o = o with { Scheme = Scheme.Rtvq };
        if (o.Scheme == Scheme.Rtvq)
            o = o with { Bits = null, OffsetBits = c.QuantizeTaskBit ?? o.OffsetBits ?? o.Bits, BaseBits = c.QuantizeBaseBit ?? o.BaseBits };
        else
            o = o with { Bits = c.QuantizeTaskBit ?? o.Bits, BaseBits = null, OffsetBits = null };
        if (c.QErrorCorrection is { } ec) o = o with { ErrorCorrection = ec };
        return o;
    }
}

/// <summary><c>--group</c>: one scale per output row (<see cref="IsRow"/>) or per <see cref="Size"/> consecutive elements.</summary>
public readonly record struct GroupSpec(int Size)
{
    public static readonly GroupSpec Row = new(0);
    public bool IsRow => Size == 0;

    public override string ToString() => IsRow ? "row" : Size.ToString(CultureInfo.InvariantCulture);

    /// <summary>"row" or a positive element count.</summary>
    public static GroupSpec Parse(string text) =>
        text.Equals("row", StringComparison.OrdinalIgnoreCase) ? Row
        : int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int g) && g >= 1 ? new GroupSpec(g)
        : throw new ArgumentException($"--group must be 'row' or a positive number of elements per scale (e.g. 128), got '{text}'");
}
