namespace EdgeTvq.Fuzz.Harness;

/// <summary>
/// One parser under test. A target is one class: seeds built from the project's own writers, a structure-aware
/// mutator, the real entry point, and the exception types that parser documents. Register it in
/// <see cref="Targets.TargetRegistry"/>.
/// </summary>
public interface IFuzzTarget
{
    /// <summary>Short name used on the command line and in failure file names.</summary>
    string Name { get; }

    /// <summary>Exception types (exact types) that are documented format errors for this parser.</summary>
    IReadOnlySet<Type> Expected { get; }

    /// <summary>Valid inputs to start from. Called once per run; <paramref name="scratch"/> is the run's scratch folder.</summary>
    IReadOnlyList<byte[]> Seeds(string scratch);

    /// <summary>One mutation of <paramref name="input"/> (a fresh array), deterministic for a given <paramref name="rng"/> state.</summary>
    byte[] Mutate(byte[] input, Random rng);

    /// <summary>Feeds <paramref name="input"/> to the parser through its real entry point; files go under <paramref name="scratch"/>.</summary>
    void Run(byte[] input, string scratch);
}

/// <summary>Thrown by a target when the parser accepted an input but broke an invariant it promises (e.g. a non-finite value).</summary>
public sealed class FuzzInvariantException(string message) : Exception(message);
