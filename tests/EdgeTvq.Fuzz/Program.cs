using System.Globalization;
using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Targets;

namespace EdgeTvq.Fuzz;

/// <summary>
/// edgetvq-fuzz [TARGET|all] [--cases N] [--minutes M] [--seed S] [--case I] [--out DIR]
/// edgetvq-fuzz replay TARGET FILE
/// edgetvq-fuzz list
/// </summary>
public static class Program
{
    private const string Usage = """
        usage: edgetvq-fuzz [TARGET|all] [--cases N] [--minutes M] [--seed S] [--case I] [--out DIR] [--timeout T]
               edgetvq-fuzz replay TARGET FILE [--timeout T]   run one saved input (a failure's .bin file)
               edgetvq-fuzz list                    the targets
          --cases N    mutated cases per target (default 10000)
          --minutes M  time budget for the whole run, split evenly over the targets (cases unlimited unless --cases)
          --seed S     run seed (default: 1); case i of seed S is the same input on every machine
          --case I     run only case I of seed S (replay by seed and index; -1 … -k are the unmutated seeds)
          --out DIR    where failing inputs are written (default artifacts/fuzz/failures)
          --timeout T  seconds a case may take before it is a hang (default 10)
        exit status: 0 no failures, 1 failures, 2 usage error
        """;

    public static int Main(string[] args)
    {
        try { return Run(args); }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"edgetvq-fuzz: {e.Message}");
            Console.Error.WriteLine(Usage);
            return 2;
        }
    }

    private static TimeSpan caseTimeout = TimeSpan.FromSeconds(10);

    private sealed class UsageException(string message) : Exception(message);

    private static int Run(string[] args)
    {
        if (args.Length > 0 && args[0] is "-h" or "--help" or "help") { Console.WriteLine(Usage); return 0; }
        if (args.Length > 0 && args[0] == "list")
        {
            foreach (var t in TargetRegistry.All()) Console.WriteLine($"{t.Name,-14} expects: {string.Join(", ", t.Expected.Select(x => x.Name))}");
            return 0;
        }
        if (args.Length > 0 && args[0] == "replay")
        {
            if (args.Length is not (3 or 5) || (args.Length == 5 && args[3] != "--timeout")) throw new UsageException("replay needs TARGET and FILE (and optionally --timeout T)");
            if (args.Length == 5) caseTimeout = TimeSpan.FromSeconds(Int(args[4], "--timeout", 1));
            return Replay(Target(args[1]), File.ReadAllBytes(args[2]));
        }

        string? targetName = null, outDir = "artifacts/fuzz/failures";
        int? cases = null, only = null;
        int seed = 1;
        double? minutes = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--cases": cases = Int(Value(), "--cases", 0); break;
                case "--seed": seed = Int(Value(), "--seed", int.MinValue); break;
                case "--case": only = Int(Value(), "--case", int.MinValue); break;
                case "--minutes":
                    minutes = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out double m) && m > 0 ? m : throw new UsageException("--minutes must be a positive number");
                    break;
                case "--out": outDir = Value(); break;
                case "--timeout": caseTimeout = TimeSpan.FromSeconds(Int(Value(), "--timeout", 1)); break;
                default:
                    if (args[i].StartsWith('-') || targetName is not null) throw new UsageException($"unknown argument '{args[i]}'");
                    targetName = args[i];
                    break;
            }
        }
        var targets = targetName is null or "all" ? TargetRegistry.All() : [Target(targetName)];

        if (only is { } index)
        {
            var t = targets.Count == 1 ? targets[0] : throw new UsageException("--case needs one TARGET");
            string scratch = Path.Combine(Path.GetTempPath(), $"edgetvq-fuzz-replay-{Environment.ProcessId}");
            Directory.CreateDirectory(scratch);
            var seeds = t.Seeds(Path.Combine(scratch, "seeds"));
            if (index < -seeds.Count) throw new UsageException($"{t.Name} has {seeds.Count} seeds: --case must be ≥ {-seeds.Count}");
            byte[] input = FuzzRunner.MakeCase(t, seeds, seed, index);
            Console.WriteLine($"{t.Name} seed {seed} case {index}: {input.Length} bytes");
            try { return RunOne(t, input, scratch); }
            finally { try { Directory.Delete(scratch, true); } catch (IOException) { } }
        }

        TimeSpan? perTarget = minutes is { } total ? TimeSpan.FromMinutes(total / targets.Count) : null;
        int failures = 0;
        foreach (var t in targets)
        {
            var options = new FuzzOptions
            {
                Seed = seed,
                Cases = cases ?? (perTarget is null ? 10_000 : int.MaxValue),
                Duration = perTarget,
                FailureDir = outDir,
                Log = Console.Out,
                CaseTimeout = caseTimeout,
            };
            Console.WriteLine($"{t.Name}: seed {seed}, {(options.Cases == int.MaxValue ? "unlimited" : options.Cases.ToString(CultureInfo.InvariantCulture))} cases{(perTarget is { } p ? $", {p.TotalSeconds:F0} s" : "")}; expects {string.Join(", ", t.Expected.Select(x => x.Name))}");
            var report = FuzzRunner.Run(t, options);
            Console.WriteLine(report.Summary());
            foreach (var g in report.Distinct)
                Console.WriteLine($"  distinct: {g.Key} ×{g.Count()}, first: case {g.First().CaseIndex}: {g.First().Message}");
            failures += report.Failures.Count;
        }
        if (FuzzRunner.MutatorErrors > 0) Console.WriteLine($"edgetvq-fuzz: {FuzzRunner.MutatorErrors} mutations threw (harness bug; those cases used a byte mutation)");
        Console.WriteLine(failures == 0 ? "edgetvq-fuzz: no failures" : $"edgetvq-fuzz: {failures} failures; inputs in {outDir}");
        return failures == 0 ? 0 : 1;
    }

    private static int Replay(IFuzzTarget t, byte[] input)
    {
        string scratch = Path.Combine(Path.GetTempPath(), $"edgetvq-fuzz-replay-{Environment.ProcessId}");
        Directory.CreateDirectory(scratch);
        try
        {
            t.Seeds(Path.Combine(scratch, "seeds"));
            return RunOne(t, input, scratch);
        }
        finally { try { Directory.Delete(scratch, true); } catch (IOException) { } }
    }

    private static int RunOne(IFuzzTarget t, byte[] input, string scratch)
    {
        string work = Path.Combine(scratch, "case");
        Directory.CreateDirectory(work);
        var (rejected, kind, error) = FuzzRunner.RunOne(t, input, work, new FuzzOptions { CaseTimeout = caseTimeout });
        if (kind is null)
        {
            Console.WriteLine(rejected ? $"rejected with a documented error: {error!.GetType().Name}: {error.Message}" : "accepted");
            return 0;
        }
        Console.WriteLine($"FAIL ({kind}): {error}");
        return 1;
    }

    private static IFuzzTarget Target(string name) =>
        TargetRegistry.Find(name) ?? throw new UsageException($"unknown target '{name}'; targets: {string.Join(", ", TargetRegistry.All().Select(t => t.Name))}");

    private static int Int(string s, string what, int min) =>
        int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) && v >= min ? v : throw new UsageException($"{what} must be an integer ≥ {min}");
}
