using System.Diagnostics;
using System.Text;

namespace EdgeTvq.Fuzz.Harness;

public sealed record FuzzOptions
{
    public int Seed { get; init; } = 1;
    /// <summary>Cases to run (after the seeds themselves); stops earlier when <see cref="Duration"/> is reached.</summary>
    public int Cases { get; init; } = 1000;
    public TimeSpan? Duration { get; init; }
    /// <summary>A case slower than this is a failure (a hang); the run of this target stops there.</summary>
    public TimeSpan CaseTimeout { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Bytes a case may allocate: <see cref="AllocationBase"/> + <see cref="AllocationPerInputByte"/> × input length.</summary>
    public long AllocationBase { get; init; } = 256L << 20;
    public long AllocationPerInputByte { get; init; } = 256;
    /// <summary>Where failing inputs are written (null: not written).</summary>
    public string? FailureDir { get; init; }
    /// <summary>Stop a target after this many failures (distinct or not).</summary>
    public int MaxFailures { get; init; } = 10_000;
    /// <summary>Inputs saved per distinct failure (same exception type and first frame).</summary>
    public int SavePerDistinct { get; init; } = 3;
    public TextWriter? Log { get; init; }
}

/// <summary>One unexpected outcome: an undocumented exception type, a timeout, or too much memory.</summary>
public sealed record FuzzFailure(string Target, int Seed, int CaseIndex, string Kind, string ExceptionType, string Message, string TopFrame, string? SavedAs, int InputLength)
{
    /// <summary>Type and first stack frame: failures with the same key are one bug.</summary>
    public string Key => $"{Kind} {ExceptionType} at {TopFrame}";

    public override string ToString() =>
        $"{Target} seed {Seed} case {CaseIndex}: {Kind} {ExceptionType}: {Message} (at {TopFrame}; {InputLength} bytes{(SavedAs is null ? "" : $"; saved as {SavedAs}")})";
}

public sealed record FuzzReport(string Target, int Seed, int Cases, int Rejected, int Accepted, TimeSpan Elapsed, IReadOnlyList<FuzzFailure> Failures)
{
    public IEnumerable<IGrouping<string, FuzzFailure>> Distinct => Failures.GroupBy(f => f.Key);

    public string Summary() =>
        $"{Target}: {Cases} cases in {Elapsed.TotalSeconds:F1} s (seed {Seed}; {Accepted} accepted, {Rejected} rejected with a documented error), " +
        $"{Failures.Count} failures ({Distinct.Count()} distinct)";
}

/// <summary>
/// Runs a target: case i of seed S mutates a seed input with a <see cref="Random"/> seeded from (S, i), so any case can
/// be replayed from its seed and index alone (or from the saved input file).
/// </summary>
public static class FuzzRunner
{
    /// <summary>The input of case <paramref name="caseIndex"/> (negative: seed input −index−1 unchanged).</summary>
    public static byte[] MakeCase(IFuzzTarget target, IReadOnlyList<byte[]> seeds, int seed, int caseIndex)
    {
        if (caseIndex < 0) return seeds[-caseIndex - 1];
        var rng = new Random(StableSeed(seed, caseIndex));
        byte[] input = seeds[rng.Next(seeds.Count)];
        int rounds = 1 + (rng.Next(4) == 0 ? rng.Next(4) : 0);
        for (int r = 0; r < rounds; r++)
        {
            try { input = target.Mutate(input, rng); }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // A mutator bug must not stop a long run; the case falls back to a plain byte mutation.
                MutatorErrors++;
                if (Environment.GetEnvironmentVariable("EDGETVQ_FUZZ_DEBUG") == "1") Console.Error.WriteLine($"mutator of {target.Name}: {e}");
                input = Mutation.Bytes.Mutate(input, rng);
            }
        }
        return input;
    }

    /// <summary>Mutations that threw (a harness bug, reported in the summary).</summary>
    public static int MutatorErrors;

    /// <summary>A seed mixing function that does not depend on the process (HashCode is randomized per process).</summary>
    public static int StableSeed(int seed, int caseIndex)
    {
        ulong x = (ulong)(uint)seed << 32 | (uint)caseIndex;
        x ^= x >> 33; x *= 0xff51afd7ed558ccdUL; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53UL; x ^= x >> 33;
        return (int)(x & 0x7fffffff);
    }

    public static FuzzReport Run(IFuzzTarget target, FuzzOptions o)
    {
        string scratch = Path.Combine(Path.GetTempPath(), $"edgetvq-fuzz-{target.Name}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(scratch);
        try { return RunIn(target, o, scratch); }
        finally { try { Directory.Delete(scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { } }
    }

    private static FuzzReport RunIn(IFuzzTarget target, FuzzOptions o, string scratch)
    {
        var seeds = target.Seeds(Path.Combine(scratch, "seeds"));
        if (seeds.Count == 0) throw new InvalidOperationException($"target {target.Name} has no seeds");
        string work = Path.Combine(scratch, "case");
        Directory.CreateDirectory(work);
        var failures = new List<FuzzFailure>();
        var clock = Stopwatch.StartNew();
        int cases = 0, rejected = 0, accepted = 0;
        // The seeds first (they must all be accepted), then the mutated cases.
        for (int i = -seeds.Count; i < o.Cases; i++)
        {
            if (i >= 0 && o.Duration is { } d && clock.Elapsed >= d) break;
            byte[] input = MakeCase(target, seeds, o.Seed, i);
            var outcome = RunCase(target, input, work, o);
            cases++;
            if (outcome.Failure is { } f)
            {
                string key = $"{f.Kind} {f.Type} at {f.Frame}";
                int seen = failures.Count(x => x.Key == key);
                string? saved = seen < o.SavePerDistinct ? Save(o, target, i, input, f) : null;
                var failure = new FuzzFailure(target.Name, o.Seed, i, f.Kind, f.Type, f.Message, f.Frame, saved, input.Length);
                failures.Add(failure);
                if (seen == 0) o.Log?.WriteLine("  FAIL " + failure);
                if (f.Kind == "timeout" || failures.Count >= o.MaxFailures) break; // a hung case keeps its thread
            }
            else if (outcome.Rejected) rejected++;
            else accepted++;
            if (i < 0 && outcome.Rejected)
                failures.Add(new FuzzFailure(target.Name, o.Seed, i, "seed-rejected", outcome.RejectType ?? "", outcome.RejectMessage ?? "", "", null, input.Length));
        }
        return new FuzzReport(target.Name, o.Seed, cases, rejected, accepted, clock.Elapsed, failures);
    }

    private sealed record CaseFailure(string Kind, string Type, string Message, string Frame);
    private sealed record Outcome(bool Rejected, CaseFailure? Failure, string? RejectType = null, string? RejectMessage = null);

    /// <summary>Runs one input on a fresh thread, bounded in time and allocation.</summary>
    public static (bool Rejected, string? Kind, Exception? Error) RunOne(IFuzzTarget target, byte[] input, string work, FuzzOptions o)
    {
        Exception? error = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try { target.Run(input, work); }
            catch (Exception e) { error = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, maxStackSize: 16 << 20) { IsBackground = true, Name = "fuzz-case" };
        thread.Start();
        if (!thread.Join(o.CaseTimeout)) return (false, "timeout", null);
        long limit = o.AllocationBase + o.AllocationPerInputByte * input.Length;
        if (allocated > limit)
            return (false, "memory", new FuzzInvariantException($"allocated {allocated >> 20} MiB for a {input.Length}-byte input (limit {limit >> 20} MiB)"));
        if (error is null) return (false, null, null);
        return target.Expected.Contains(error.GetType()) ? (true, null, error) : (false, "exception", error);
    }

    private static Outcome RunCase(IFuzzTarget target, byte[] input, string work, FuzzOptions o)
    {
        var (rejected, kind, error) = RunOne(target, input, work, o);
        if (kind is null) return new Outcome(rejected, null, error?.GetType().Name, error?.Message);
        if (kind == "timeout")
            return new Outcome(false, new CaseFailure("timeout", "-", $"case took longer than {o.CaseTimeout.TotalSeconds:F0} s", "-"));
        return new Outcome(false, new CaseFailure(kind, error!.GetType().FullName!, OneLine(error.Message), TopFrame(error)));
    }

    public static string TopFrame(Exception e)
    {
        // A broken invariant is thrown by the harness; its message (up to the details in parentheses) names the bug.
        if (e is FuzzInvariantException) return "invariant: " + (e.Message.IndexOf('(') is > 0 and var p ? e.Message[..p].TrimEnd() : e.Message);
        var frames = new StackTrace(e, fNeedFileInfo: true).GetFrames();
        var f = frames.FirstOrDefault(fr => fr.GetMethod()?.DeclaringType?.Namespace?.StartsWith("EdgeTvq", StringComparison.Ordinal) == true
                                             && fr.GetMethod()?.DeclaringType?.Namespace?.StartsWith("EdgeTvq.Fuzz", StringComparison.Ordinal) != true)
                ?? frames.FirstOrDefault();
        if (f?.GetMethod() is not { } m) return "?";
        string where = f.GetFileName() is { } file ? $" ({Path.GetFileName(file)}:{f.GetFileLineNumber()})" : "";
        return $"{m.DeclaringType?.Name}.{m.Name}{where}";
    }

    private static string OneLine(string s) => s.ReplaceLineEndings(" ") is var t && t.Length > 300 ? t[..300] + "…" : t;

    private static string? Save(FuzzOptions o, IFuzzTarget target, int caseIndex, byte[] input, CaseFailure f)
    {
        if (o.FailureDir is null) return null;
        Directory.CreateDirectory(o.FailureDir);
        string stem = Path.Combine(o.FailureDir, $"{target.Name}-seed{o.Seed}-case{caseIndex}");
        File.WriteAllBytes(stem + ".bin", input);
        File.WriteAllText(stem + ".txt", new StringBuilder()
            .AppendLine($"target: {target.Name}").AppendLine($"seed: {o.Seed}").AppendLine($"case: {caseIndex}")
            .AppendLine($"kind: {f.Kind}").AppendLine($"exception: {f.Type}").AppendLine($"message: {f.Message}").AppendLine($"at: {f.Frame}")
            .AppendLine($"replay: ./build.sh fuzz replay {target.Name} {stem}.bin   (or: ./build.sh fuzz {target.Name} --seed {o.Seed} --case {caseIndex})")
            .ToString());
        return stem + ".bin";
    }
}
