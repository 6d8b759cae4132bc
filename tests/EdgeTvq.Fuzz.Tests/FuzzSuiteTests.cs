using System.Diagnostics;
using System.Text;
using EdgeTvq.Fuzz.Harness;
using EdgeTvq.Fuzz.Targets;
using Xunit.Abstractions;

namespace EdgeTvq.Fuzz.Tests;

/// <summary>
/// The short seeded fuzz run of CI (docs/fuzzing.md): every target, a fixed seed, a fixed number of cases. Any exception
/// type other than the target's documented format errors, a case over 10 s, or a case allocating far more than its
/// input fails it. Long runs: ./build.sh fuzz.
/// </summary>
public sealed class FuzzSuiteTests(ITestOutputHelper output)
{
    /// <summary>Cases per target: 35,000 in all, about 30 s on two idle cores, 60 s on busy ones (docs/fuzzing.md).</summary>
    private static readonly Dictionary<string, int> Cases = new()
    {
        ["manifest"] = 3000, ["bundle"] = 3000, ["safetensors"] = 4000, ["pt"] = 5000,
        ["onnx"] = 5000, ["onnx-runtime"] = 5000, ["recipe"] = 5000, ["image"] = 5000,
    };

    public const int Seed = 20261129;

    public static TheoryData<string> Targets() => [.. TargetRegistry.All().Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Target_raises_only_documented_errors(string name)
    {
        var target = TargetRegistry.Find(name)!;
        var report = FuzzRunner.Run(target, new FuzzOptions
        {
            Seed = Seed,
            Cases = Cases.GetValueOrDefault(name, 1000),
            FailureDir = Path.Combine(Path.GetTempPath(), "edgetvq-fuzz-failures"),
        });
        output.WriteLine(report.Summary());
        Assert.True(report.Accepted > 0, $"{name}: no case was accepted; the seeds or the target are broken");
        Assert.True(report.Failures.Count == 0, Describe(report));
    }

    public static string Describe(FuzzReport report)
    {
        var sb = new StringBuilder(report.Summary()).AppendLine();
        foreach (var g in report.Distinct)
        {
            var f = g.First();
            sb.AppendLine($"- {f.Kind} {f.ExceptionType} ×{g.Count()} at {f.TopFrame}: {f.Message}")
              .AppendLine($"  first: target {f.Target}, seed {f.Seed}, case {f.CaseIndex}{(f.SavedAs is null ? "" : $", input {f.SavedAs}")}")
              .AppendLine($"  replay: ./build.sh fuzz {f.Target} --seed {f.Seed} --case {f.CaseIndex}");
        }
        return sb.ToString();
    }
}

/// <summary>The harness itself: it must report what it is meant to catch.</summary>
public sealed class HarnessTests
{
    private sealed class Dummy(Action<byte[]> run, params Type[] expected) : IFuzzTarget
    {
        public string Name => "dummy";
        public IReadOnlySet<Type> Expected { get; } = expected.ToHashSet();
        public IReadOnlyList<byte[]> Seeds(string scratch) => [[1, 2, 3, 4]];
        public byte[] Mutate(byte[] input, Random rng) => Mutation.Bytes.Mutate(input, rng);
        public void Run(byte[] input, string scratch) => run(input);
    }

    [Fact]
    public void Unexpected_exception_type_is_reported_with_seed_case_and_frame()
    {
        var target = new Dummy(b => { if (b.Length != 4) throw new NullReferenceException("boom"); }, typeof(InvalidDataException));
        var report = FuzzRunner.Run(target, new FuzzOptions { Seed = 3, Cases = 50 });
        var f = Assert.Single(report.Distinct).First();
        Assert.Equal("exception", f.Kind);
        Assert.Equal(typeof(NullReferenceException).FullName, f.ExceptionType);
        Assert.Equal(3, f.Seed);
        Assert.Contains("boom", FuzzSuiteTests.Describe(report));
        // Replaying the case by seed and index gives the same input.
        var again = FuzzRunner.MakeCase(target, target.Seeds(""), 3, f.CaseIndex);
        Assert.Equal(f.InputLength, again.Length);
    }

    [Fact]
    public void Documented_exception_is_a_rejection_not_a_failure()
    {
        var target = new Dummy(b => { if (b.Length != 4) throw new InvalidDataException("bad"); }, typeof(InvalidDataException));
        var report = FuzzRunner.Run(target, new FuzzOptions { Seed = 3, Cases = 50 });
        Assert.Empty(report.Failures);
        Assert.True(report.Rejected > 0);
    }

    [Fact]
    public void Subclass_of_a_documented_type_is_still_a_failure()
    {
        // ArgumentException is documented for recipes; ArgumentOutOfRangeException escaping is a bug.
        var target = new Dummy(_ => throw new ArgumentOutOfRangeException("x"), typeof(ArgumentException));
        var report = FuzzRunner.Run(target, new FuzzOptions { Seed = 1, Cases = 2 });
        Assert.NotEmpty(report.Failures);
    }

    [Fact]
    public void Slow_case_is_a_timeout_failure()
    {
        var target = new Dummy(b => { if (b.Length != 4) Thread.Sleep(2000); });
        var clock = Stopwatch.StartNew();
        var report = FuzzRunner.Run(target, new FuzzOptions { Seed = 1, Cases = 20, CaseTimeout = TimeSpan.FromMilliseconds(200) });
        Assert.Equal("timeout", Assert.Single(report.Failures).Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2));
    }

    [Fact]
    public void Allocation_far_beyond_the_input_is_a_memory_failure()
    {
        var target = new Dummy(b => { if (b.Length != 4) GC.KeepAlive(new byte[64 << 20]); });
        var report = FuzzRunner.Run(target, new FuzzOptions { Seed = 1, Cases = 5, AllocationBase = 16 << 20 });
        Assert.All(report.Failures, f => Assert.Equal("memory", f.Kind));
        Assert.NotEmpty(report.Failures);
    }

    [Fact]
    public void Failing_input_is_saved_for_replay()
    {
        string dir = Path.Combine(Path.GetTempPath(), "edgetvq-fuzz-harness-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var target = new Dummy(b => { if (b.Length != 4) throw new IndexOutOfRangeException(); });
            var report = FuzzRunner.Run(target, new FuzzOptions { Seed = 9, Cases = 30, FailureDir = dir, MaxFailures = 1 });
            var f = Assert.Single(report.Failures);
            Assert.NotNull(f.SavedAs);
            Assert.Equal(f.InputLength, File.ReadAllBytes(f.SavedAs!).Length);
            Assert.Contains($"--seed 9 --case {f.CaseIndex}", File.ReadAllText(Path.ChangeExtension(f.SavedAs!, ".txt")));
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, true); }
    }

    [Fact]
    public void Same_seed_gives_the_same_cases()
    {
        foreach (var t in TargetRegistry.All())
        {
            string scratch = Path.Combine(Path.GetTempPath(), "edgetvq-fuzz-det-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(scratch);
            try
            {
                var seeds = t.Seeds(scratch);
                for (int i = 0; i < 20; i++)
                    Assert.Equal(FuzzRunner.MakeCase(t, seeds, 5, i), FuzzRunner.MakeCase(t, seeds, 5, i));
            }
            finally { Directory.Delete(scratch, true); }
        }
    }

    [Fact]
    public void The_json_mutator_never_throws_on_extreme_numbers_or_deep_nesting()
    {
        // Extreme numbers (beyond double, at its edge) and repeated rounds that nest deeper each time: the inputs
        // where the mutator used to throw and the runner fell back to a byte mutation ("mutations threw").
        byte[][] seeds =
        [
            Encoding.UTF8.GetBytes("{\"a\": 1e300, \"b\": [1, 2, {\"c\": \"x\"}], \"d\": 1e308, \"e\": -1.7e308}"),
            Encoding.UTF8.GetBytes("[1e200, 123456789012345678901234567890, 5e-324, \"s\", null, true]"),
            Encoding.UTF8.GetBytes("1e307"),
        ];
        var thrown = new List<string>();
        for (int i = 0; i < 3000; i++)
        {
            var rng = new Random(FuzzRunner.StableSeed(20261129, i));
            byte[] input = seeds[rng.Next(seeds.Length)];
            for (int round = 0; round < 4; round++)
            {
                try { input = Mutation.Json.Mutate(input, rng); }
                catch (Exception e) { thrown.Add($"case {i} round {round}: {e.GetType().Name}: {e.Message}"); break; }
            }
        }
        Assert.True(thrown.Count == 0, $"{thrown.Count} mutations threw, e.g.\n{string.Join("\n", thrown.Take(5))}");
    }
}
