using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tests.Inference;

namespace EdgeTvq.Runtime.Tests.Serving;

/// <summary>Task switching: a request in flight never sees half-merged weights; the retired model lives until its last request ends.</summary>
[Collection(MergedReferenceCollection.Name)]
public class ModelHostTests(MergedReference fx)
{
    private static float MaxAbsDiff(float[] x, float[] y) => x.Zip(y, (p, q) => Math.Abs(p - q)).Max();

    [Theory]
    [InlineData(SessionMode.WeightsAsInputs, false)]
    [InlineData(SessionMode.Embedded, false)]
    [InlineData(SessionMode.WeightsAsInputs, true)]
    [InlineData(SessionMode.Embedded, true)]
    public void Requests_racing_switches_always_get_one_complete_model(SessionMode mode, bool lowMemory)
    {
        using var bundle = new BundleOnModel(fx, lowMemory ? BundleOnModel.RtvqB3O2 : BundleOnModel.Tvq8);
        using var host = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions { Mode = mode, IntraOpThreads = 1 }, lowMemory);
        // Fused (individual, TA) and general streaming (MagMax, EMR with its cached rescalers) merges alike.
        var recipes = new[] { MergeRecipe.Individual("a"), MergeRecipe.Individual("b"), MergeRecipe.TaskArithmetic(["a", "b"]),
                              MergeRecipe.Of(MergeMethod.MagMax, ["a", "b"]), MergeRecipe.Of(MergeMethod.Emr, ["a", "b"], "b") };
        var expected = new Dictionary<MergeRecipe, float[]>();
        foreach (var r in recipes)
        {
            host.Switch(r);
            using var lease = host.Acquire();
            expected[r] = lease.Model.Encode(fx.Image, 4, 28);
        }
        Assert.True(MaxAbsDiff(expected[recipes[0]], expected[recipes[1]]) > 1e-2, "the two tasks must give clearly different outputs");
        Assert.True(MaxAbsDiff(expected[recipes[0]], expected[recipes[2]]) > 1e-2);

        int served = 0;
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var stop = new CancellationTokenSource();
        var workers = Enumerable.Range(0, 2).Select(_ => Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var lease = host.Acquire();
                var got = lease.Model.Encode(fx.Image, 4, 28);
                float diff = MaxAbsDiff(expected[lease.Model.Recipe], got);
                if (diff > 1e-5f) failures.Enqueue($"{lease.Model.Recipe}: off by {diff}");
                Interlocked.Increment(ref served);
            }
        })).ToArray();
        for (int i = 0; i < 15; i++)
        {
            host.Switch(recipes[i % recipes.Length]);
            // Let the requests at each model before the next switch (a low-memory switch takes the model away at once;
            // on a busy machine the switching thread could otherwise win every time and nothing would be raced).
            int before = Volatile.Read(ref served);
            SpinWait.SpinUntil(() => Volatile.Read(ref served) > before, TimeSpan.FromSeconds(30));
        }
        stop.Cancel();
        Task.WaitAll(workers);
        Assert.Empty(failures);
        Assert.True(served > 0);
    }

    /// <summary>
    /// Weights as inputs: the host builds one ONNX Runtime session and every model binds its own weights to it, so a
    /// switch builds no session, yet a request of the retired model still runs on that model's weights.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Switches_bind_weights_to_one_session_built_once(bool lowMemory)
    {
        using var bundle = new BundleOnModel(fx, BundleOnModel.Tvq8);
        using var host = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions(), lowMemory);
        Assert.Null(host.SharedSession);
        var first = host.Switch(MergeRecipe.Individual("a"));
        var session = host.SharedSession;
        Assert.NotNull(session);
        Assert.True(first.Session >= host.SessionBuildTime, "the first switch reports building the session");
        float[] a;
        using (var lease = host.Acquire())
        {
            Assert.Same(session, lease.Model.Session);
            a = lease.Model.Encode(fx.Image, 4, 28);
        }
        foreach (var recipe in new[] { MergeRecipe.Individual("b"), MergeRecipe.TaskArithmetic(["a", "b"]), MergeRecipe.Individual("a") })
        {
            host.Switch(recipe);
            Assert.Same(session, host.SharedSession);
            using var lease = host.Acquire();
            Assert.Same(session, lease.Model.Session);
        }
        using (var again = host.Acquire()) Assert.Equal(a, again.Model.Encode(fx.Image, 4, 28));

        using var embedded = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions { Mode = SessionMode.Embedded }, lowMemory);
        embedded.Switch(MergeRecipe.Individual("a"));
        Assert.Null(embedded.SharedSession);
    }

    [Fact]
    public void A_lease_keeps_the_retired_model_alive_until_it_is_released()
    {
        using var bundle = new BundleOnModel(fx, BundleOnModel.Tvq8);
        using var host = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions());
        host.Switch(MergeRecipe.Individual("a"));
        var lease = host.Acquire();
        var before = lease.Model.Encode(fx.Image, 4, 28);
        host.Switch(MergeRecipe.Individual("b"));
        var after = lease.Model.Encode(fx.Image, 4, 28); // still model "a", still usable
        Assert.Equal(before, after);
        lease.Dispose();
        Assert.Throws<ObjectDisposedException>(() => lease.Model.Encode(fx.Image, 4, 28));
        using var current = host.Acquire();
        Assert.Equal("individual b", current.Model.Recipe.ToString());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_failed_switch_leaves_the_current_model_serving(bool lowMemory)
    {
        using var bundle = new BundleOnModel(fx, BundleOnModel.Tvq8);
        using var host = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions(), lowMemory);
        host.Switch(MergeRecipe.Individual("a"));
        var bytes = File.ReadAllBytes(Path.Combine(bundle.Bundle, "b.tvqt"));
        bytes[^40] ^= 0x20;
        File.WriteAllBytes(Path.Combine(bundle.Bundle, "b.tvqt"), bytes);
        var e = Assert.Throws<EdgeTvq.Format.BundleFormatException>(() => host.Switch(MergeRecipe.Individual("b")));
        Assert.Contains("b.tvqt", e.Message);
        using var lease = host.Acquire();
        Assert.Equal("individual a", lease.Model.Recipe.ToString());
        var output = lease.Model.Encode(fx.Image, 4, 28);
        using var reference = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions());
        reference.Switch(MergeRecipe.Individual("a"));
        using var fresh = reference.Acquire();
        Assert.Equal(fresh.Model.Encode(fx.Image, 4, 28), output); // in low-memory mode, rebuilt into the same buffer
    }

    /// <summary>
    /// Low-memory mode: a switch retires the current model first and waits for its requests; a request that arrives
    /// meanwhile waits for the new model. Nothing half-merged is served.
    /// </summary>
    [Fact]
    public void A_low_memory_switch_waits_for_requests_in_flight_and_new_requests_wait_for_it()
    {
        using var bundle = new BundleOnModel(fx, BundleOnModel.RtvqB3O2);
        using var host = new ModelHost(bundle.Bundle, fx.ModelPath, new InferenceOptions(), lowMemory: true);
        Assert.True(host.LowMemory);
        host.Switch(MergeRecipe.Individual("a"));
        var lease = host.Acquire();
        var switching = Task.Factory.StartNew(() => host.Switch(MergeRecipe.Individual("b")), TaskCreationOptions.LongRunning);
        // Once the switch has taken the model out of service (however long the machine takes to start it), it must wait.
        Assert.True(SpinWait.SpinUntil(() => host.IsSwitchingInPlace, TimeSpan.FromSeconds(60)), "the switch did not start");
        Assert.False(switching.Wait(500), "the in-place switch must wait for the request in flight");
        Assert.Equal("individual a", lease.Model.Recipe.ToString());
        var a = lease.Model.Encode(fx.Image, 4, 28); // the request in flight still runs on the complete model a
        var waiting = Task.Factory.StartNew(() =>
        {
            using var l = host.Acquire();
            return l.Model.Recipe.ToString();
        }, TaskCreationOptions.LongRunning);
        Assert.False(waiting.Wait(300), "a new request must wait while no model is served");
        lease.Dispose();
        Assert.True(switching.Wait(TimeSpan.FromMinutes(1)));
        Assert.Equal("individual b", waiting.Result);
        using var b = host.Acquire();
        Assert.True(MaxAbsDiff(a, b.Model.Encode(fx.Image, 4, 28)) > 1e-2);
    }

    [Fact]
    public void A_model_that_is_not_the_bundles_pretrained_one_is_refused()
    {
        using var bundle = new BundleOnModel(fx, BundleOnModel.Tvq8);
        // variant_a as "the model": same names and shapes, other values.
        var e = Assert.Throws<EdgeTvq.Format.BundleFormatException>(() => new ModelHost(bundle.Bundle, fx.PathOf("variant_a.safetensors"), new InferenceOptions()));
        Assert.Equal(EdgeTvq.ExitCodes.Failed, EdgeTvq.ExitCodes.For(e)); // bad input (1), not bad usage (2)
        Assert.Contains("not the pretrained model", e.Message);
    }
}
