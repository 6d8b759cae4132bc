using System.Diagnostics;
using EdgeTvq.Runtime.Inference;
using Xunit.Abstractions;

namespace EdgeTvq.Runtime.Tests.Inference;

/// <summary>
/// Not a test: prints session build time and batch-1 latency of both modes on the fixture model when
/// EDGETVQ_TIMINGS=1 (asserts nothing; does nothing otherwise). Run with
/// <c>EDGETVQ_TIMINGS=1 dotnet test tests/EdgeRuntime.Tests --filter InferenceTimings --logger "console;verbosity=detailed"</c>.
/// </summary>
[Collection(MergedReferenceCollection.Name)]
public sealed class InferenceTimings(MergedReference fx, ITestOutputHelper log)
{
    [Fact]
    public void PrintBuildAndLatency()
    {
        if (Environment.GetEnvironmentVariable("EDGETVQ_TIMINGS") != "1") return;
        float[] image = fx.Image[..(28 * 28)];
        foreach (bool external in new[] { false, true })
        foreach (SessionMode mode in new[] { SessionMode.WeightsAsInputs, SessionMode.Embedded })
        {
            var builds = new List<double>();
            var latencies = new List<double>();
            for (int rep = 0; rep < 7; rep++)
            {
                using ModelSession session = ModelSession.Create(fx.ModelFor(external), fx.VariantAWeights(),
                    new InferenceOptions { Mode = mode, IntraOpThreads = 1 });
                builds.Add(session.BuildTime.TotalMilliseconds);
                for (int i = 0; i < 20; i++) session.Run(MergedReference.ImageInput, image, [1, 1, 28, 28], MergedReference.FeaturesOutput);
                var clock = Stopwatch.StartNew();
                const int runs = 300;
                for (int i = 0; i < runs; i++) session.Run(MergedReference.ImageInput, image, [1, 1, 28, 28], MergedReference.FeaturesOutput);
                latencies.Add(clock.Elapsed.TotalMilliseconds * 1000 / runs);
            }
            double first = builds[0];
            builds.Sort();
            latencies.Sort();
            log.WriteLine($"{mode,-16} external={external,-5} build median {builds[3]:F1} ms (min {builds[0]:F1}, first {first:F1}); batch-1 latency median {latencies[3]:F0} us (min {latencies[0]:F0})");
        }
    }
}
