using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tests.Zoo;
using Xunit.Abstractions;

namespace EdgeTvq.Runtime.Tests.Http;

/// <summary>Signed field updates reaching a running service: picked up without a restart, never mixing generations.</summary>
[Collection(ZooBundleCollection.Name)]
public class HttpUpdateTests(ZooBundle zb, ITestOutputHelper log)
{
    /// <summary>
    /// The signer's side: the zoo bundle's generations, each a signed manifest. Generation 0 lacks the last three
    /// tasks; generations 1–3 add them back one by one (one task file each); generation 4 removes the first added.
    /// </summary>
    private sealed class Signer : IDisposable
    {
        private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        public string Root { get; }
        public string TrustDir { get; }
        public List<string> Generations { get; } = []; // folders holding manifest.json + .sig (+ the added task file)
        public List<string> Added { get; } = [];

        public Signer(ZooBundle zb)
        {
            Root = Path.Combine(zb.Dir, "signed-" + Guid.NewGuid().ToString("N")[..8]);
            TrustDir = Path.Combine(Root, "keys");
            Directory.CreateDirectory(TrustDir);
            File.WriteAllText(Path.Combine(TrustDir, "signer.pub.pem"), _key.ExportSubjectPublicKeyInfoPem());
            var full = ManifestIO.Load(zb.Bundle);
            var all = full.Tasks.ToList();
            Added.AddRange(all.TakeLast(3).Select(t => t.Name));
            var lists = new List<List<TaskEntry>>
            {
                all.SkipLast(3).ToList(), all.SkipLast(2).ToList(), all.SkipLast(1).ToList(), all,
                all.Where(t => t.Name != Added[0]).ToList(),
            };
            for (int g = 0; g < lists.Count; g++)
            {
                string dir = Path.Combine(Root, $"gen{g}");
                Directory.CreateDirectory(dir);
                var m = ManifestIO.Load(zb.Bundle);
                m.Tasks = lists[g];
                ManifestIO.Save(m, dir);
                BundleSigning.SignBundle(dir, _key);
                Generations.Add(dir);
            }
        }

        /// <summary>A device folder at generation 0: every file of the zoo bundle it lists, its signed manifest.</summary>
        public string Device(ZooBundle zb)
        {
            string device = Path.Combine(Root, "device");
            Directory.CreateDirectory(device);
            var m = ManifestIO.Load(Generations[0]);
            foreach (var f in m.Tasks.Select(t => t.File).Append(m.Base!.File)) File.Copy(Path.Combine(zb.Bundle, f), Path.Combine(device, f));
            foreach (var f in new[] { FormatConstants.ManifestFileName, SignatureFile.FileName }) File.Copy(Path.Combine(Generations[0], f), Path.Combine(device, f));
            return device;
        }

        public void Dispose() => _key.Dispose();
    }

    /// <summary>Applies generation g (1–4) to the device as `edgetvq update` does.</summary>
    private static UpdateReport Apply(Signer signer, ZooBundle zb, string device, BundleTrust trust, int g)
    {
        string manifest = Path.Combine(signer.Generations[g], FormatConstants.ManifestFileName);
        return g <= 3
            ? BundleUpdate.Add(device, Path.Combine(zb.Bundle, ManifestIO.Load(zb.Bundle).Tasks.Single(t => t.Name == signer.Added[g - 1]).File), manifest, null, trust)
            : BundleUpdate.Remove(device, manifest, null, trust);
    }

    [Fact]
    public async Task An_update_is_served_after_the_index_call_or_by_itself_and_a_refused_one_changes_nothing()
    {
        using var signer = new Signer(zb);
        string device = signer.Device(zb);
        using var trust = BundleTrust.Load(signer.TrustDir);
        await using var s = await Served.StartAsync(zb, bundle: device, trust: trust);
        string added = signer.Added[0];
        Assert.Equal(HttpStatusCode.NotFound, (await s.Unix.GetAsync($"/v2/models/{added}")).StatusCode);

        // Through the repository index call: at once.
        string before = s.Host.BundleGeneration;
        Apply(signer, zb, device, trust, 1);
        var index = await s.Unix.PostAsync("/v2/repository/index", Served.Json("{}"));
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        using (var rows = JsonDocument.Parse(await index.Content.ReadAsStringAsync()))
            Assert.Contains(rows.RootElement.EnumerateArray(), r => r.GetProperty("name").GetString() == added);
        Assert.NotEqual(before, s.Host.BundleGeneration);
        Assert.Equal(s.Host.BundleGeneration, index.Headers.GetValues(EdgeTvq.Runtime.Http.HttpService.GenerationHeader).Single());
        var infer = await s.Unix.PostAsync($"/v2/models/{added}/infer", Served.Json(s.JsonRequest(s.Preprocessed(added, s.Images(added, 2)), 2)));
        Assert.Equal(HttpStatusCode.OK, infer.StatusCode);

        // By watching the manifest: no call needed.
        Apply(signer, zb, device, trust, 2);
        string second = signer.Added[1];
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((await s.Unix.GetAsync($"/v2/models/{second}")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, "the new generation was not picked up within 20 s of the update");
            await Task.Delay(100);
        }

        // A manifest changed after signing is refused on pickup: the old generation keeps serving, /metrics counts it.
        string serving = s.Host.BundleGeneration;
        var m = ManifestIO.Load(device);
        m.Recipes = new() { ["sneaky"] = new RecipeDocument { Method = "ta" } };
        ManifestIO.Save(m, device);
        index = await s.Unix.PostAsync("/v2/repository/index", Served.Json("{}"));
        Assert.Equal(HttpStatusCode.OK, index.StatusCode);
        Assert.Contains("changed after it was signed", Uri.UnescapeDataString(index.Headers.GetValues(EdgeTvq.Runtime.Http.HttpService.ReloadRefusedHeader).Single()));
        Assert.Equal(serving, s.Host.BundleGeneration);
        Assert.Contains("edgetvq_bundle_reloads_total{result=\"refused\"} ", await s.Unix.GetStringAsync("/metrics"));
        Assert.Equal(HttpStatusCode.OK, (await s.Unix.PostAsync($"/v2/models/{second}/infer", Served.Json(s.JsonRequest(s.Preprocessed(second, s.Images(second, 2)), 2)))).StatusCode);
    }

    /// <summary>
    /// 1,000 inferences from 8 clients while 50 repository loads switch the model and 5 signed updates change the
    /// bundle generation (adds, a remove, a rollback): no errors, every answer names a generation the device had, and
    /// equals bit for bit what the model it names gives.
    /// </summary>
    [Fact]
    public async Task Thousand_requests_during_fifty_switches_and_five_signed_updates_are_each_answered_by_one_complete_model()
    {
        using var signer = new Signer(zb);
        string device = signer.Device(zb);
        using var trust = BundleTrust.Load(signer.TrustDir);
        await using var s = await Served.StartAsync(zb, bundle: device, trust: trust);
        string t0 = s.Tasks[0], t1 = s.Tasks[1], t2 = s.Tasks[2];
        string Doc(string body) => "{\"parameters\": {\"recipe\": " + body + "}}";
        var loads = new (string Model, string Body)[]
        {
            (t0, Doc($"{{\"method\": \"task_arithmetic\", \"tasks\": [\"{t0}\", \"{t1}\", \"{t2}\"], \"lambda\": 0.3}}")),
            (t1, Doc($"{{\"method\": \"individual\", \"task\": \"{t1}\"}}")),
            (t0, Doc($"{{\"method\": \"ties\", \"tasks\": [\"{t0}\", \"{t1}\", \"{t2}\"]}}")),
        };
        // These tasks are in every generation, so a recipe's model gives the same bits in each: expected by recipe.
        var (expected, requests) = s.ExpectedAnswers(loads, t0, t1);
        var generations = new ConcurrentDictionary<string, bool>();
        generations[s.Host.BundleGeneration] = true;

        var failures = new ConcurrentQueue<string>();
        var seenGenerations = new ConcurrentDictionary<string, int>();
        int answered = 0;
        var clients = s.Clients(t0, t1, requests, expected, failures,
            (generation, response) => !generations.ContainsKey(generation) ? $"answered with generation {generation}, which the device never had"
                : response.Headers.GetValues(EdgeTvq.Runtime.Http.HttpService.GenerationHeader).Single() != generation ? "header and body name different generations" : null,
            (_, generation) => { seenGenerations.AddOrUpdate(generation, 1, (_, n) => n + 1); Interlocked.Increment(ref answered); });
        var switcher = Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                var (model, body) = loads[i % loads.Length];
                var response = await s.Unix.PostAsync($"/v2/repository/models/{model}/load", Served.Json(body));
                if (response.StatusCode != HttpStatusCode.OK) failures.Enqueue($"load {i}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
                await Task.Delay(Random.Shared.Next(5, 30));
            }
        });
        var updater = Task.Run(async () =>
        {
            // Generations 1, 2, 3 (adds), 4 (a remove), then a rollback to 3: five signed updates.
            for (int step = 1; step <= 5; step++)
            {
                await Task.Delay(Random.Shared.Next(50, 200));
                var report = step <= 4 ? Apply(signer, zb, device, trust, step) : BundleUpdate.Rollback(device, trust);
                generations[report.Generation] = true; // before the service can pick it up
                var index = await s.Tcp.PostAsync("/v2/repository/index", Served.Json("{}"));
                if (index.StatusCode != HttpStatusCode.OK || index.Headers.Contains(EdgeTvq.Runtime.Http.HttpService.ReloadRefusedHeader))
                    failures.Enqueue($"update {step}: index answered {(int)index.StatusCode}");
            }
        });
        await Task.WhenAll(clients, switcher, updater);
        foreach (var f in failures.Take(10)) log.WriteLine(f);
        foreach (var (g, n) in seenGenerations) log.WriteLine($"{n,5}  generation {g}");
        Assert.Empty(failures);
        Assert.Equal(1000, answered);
        Assert.Equal(5, generations.Count); // generations 0–4; the rollback returns to 3
        Assert.Equal(BundleUpdate.CurrentGeneration(device), s.Host.BundleGeneration);
        Assert.Equal(signer.Added.Count + 5, s.Host.Manifest.Tasks.Count); // generation 3 again: every task
    }
}
