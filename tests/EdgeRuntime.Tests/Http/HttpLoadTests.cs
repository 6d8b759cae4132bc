using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tests.Zoo;
using Xunit.Abstractions;

namespace EdgeTvq.Runtime.Tests.Http;

/// <summary>The service under load: switches during traffic, and a stream of malformed requests.</summary>
[Collection(ZooBundleCollection.Name)]
public class HttpLoadTests(ZooBundle zb, ITestOutputHelper log)
{
    /// <summary>
    /// 1,000 inferences from 8 clients while 50 repository loads switch the model (and requests for a task the live
    /// model lacks switch it too): no errors, and each answer equals, bit for bit, what the model its response names
    /// (recipe + bundle generation) gives for the same inputs.
    /// </summary>
    [Fact]
    public async Task Thousand_requests_from_eight_clients_during_fifty_switches_are_each_answered_by_the_model_they_name()
    {
        await using var s = await Served.StartAsync(zb);
        string t0 = s.Tasks[0], t1 = s.Tasks[1];
        string Doc(string body) => "{\"parameters\": {\"recipe\": " + body + "}}";
        var loads = new (string Model, string Body)[]
        {
            (t0, Doc($"{{\"method\": \"task_arithmetic\", \"lambda\": 0.3}}")),
            (t1, Doc($"{{\"method\": \"task_arithmetic\", \"tasks\": [\"{t0}\", \"{t1}\"], \"lambda\": 0.5}}")),
            (t0, Doc($"{{\"method\": \"individual\", \"task\": \"{t0}\"}}")),
            (t1, Doc($"{{\"method\": \"ties\", \"tasks\": [\"{t0}\", \"{t1}\", \"{s.Tasks[2]}\"]}}")),
            (t1, Doc($"{{\"method\": \"individual\", \"task\": \"{t1}\"}}")),
        };
        // The models a response may name, and what each gives for each task's inputs, computed on the same host first.
        var (expected, requests) = s.ExpectedAnswers(loads, t0, t1);

        var failures = new ConcurrentQueue<string>();
        var seen = new ConcurrentDictionary<string, int>();
        int answered = 0;
        var clients = s.Clients(t0, t1, requests, expected, failures,
            (generation, _) => generation != s.Host.BundleGeneration ? "wrong bundle generation" : null,
            (recipe, _) => { seen.AddOrUpdate(recipe, 1, (_, n) => n + 1); Interlocked.Increment(ref answered); });
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
        await Task.WhenAll(clients, switcher);
        foreach (var f in failures.Take(10)) log.WriteLine(f);
        foreach (var (recipe, n) in seen) log.WriteLine($"{n,5}  {recipe}");
        Assert.Empty(failures);
        Assert.Equal(1000, answered);
        Assert.True(seen.Count >= 3, $"the answers came from {seen.Count} models only: the switches did not overlap the traffic");
    }

    /// <summary>
    /// 10,000 fuzzed requests (malformed JSON, wrong shapes and datatypes, huge declared sizes, broken images, bodies
    /// over the limit): every one a 4xx with an {"error"} body, the process's memory bounded, and a good request
    /// still answered correctly afterwards.
    /// </summary>
    [Fact]
    public async Task Ten_thousand_fuzzed_requests_are_all_refused_with_a_4xx_and_memory_stays_bounded()
    {
        await using var s = await Served.StartAsync(zb, configure: c => c with { MaxBodyBytes = 256 << 10 });
        string task = s.Tasks[0], input = s.Service.Router.InputName;
        var images = s.Images(task, 2);
        var batch = s.Preprocessed(task, images);
        string good = s.JsonRequest(batch, 2);
        byte[] png = Served.Png(images[0].Pixels, 28);
        var seeds = new[]
        {
            good, s.JsonRequest(batch.Take(784).ToArray(), 1),
            "{\"inputs\":[{\"name\":\"" + input + "\",\"datatype\":\"FP32\",\"shape\":[1,1,28,28],\"parameters\":{\"binary_data_size\":3136}}]}",
        };
        string[] tokens = ["FP32", "INT64", "BYTES", "FP16", "-1", "0", "9223372036854775807", "1e39", "NaN", "null", "true", "\"x\"", "[]", "{}", "[[[[[", "]]]]", "28", "2", "\"binary_data_size\":999999999999", "\\u0000", "é"];
        long before = 0;
        int done = 0;
        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        var clients = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            var rng = new Random(1000 + c);
            var http = c % 2 == 0 ? s.Unix : s.Tcp;
            while (true)
            {
                int i = Interlocked.Increment(ref done);
                if (i > 10_000) return;
                if (i == 2_000) before = Environment.WorkingSet; // after warm-up
                var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{task}/infer");
                string kind;
                switch (rng.Next(8))
                {
                    case 0 or 1 or 2: // a good request with one to three tokens cut out or replaced
                    {
                        var text = seeds[rng.Next(2)];
                        for (int k = rng.Next(1, 4); k > 0; k--)
                        {
                            int at = rng.Next(text.Length), length = rng.Next(1, 12);
                            text = text[..at] + (rng.Next(2) == 0 ? tokens[rng.Next(tokens.Length)] : "") + text[Math.Min(text.Length, at + length)..];
                        }
                        request.Content = Served.Json(text);
                        kind = "mutated json";
                        break;
                    }
                    case 3: // declared sizes and shapes that do not fit
                    {
                        long n = rng.Next(3) switch { 0 => long.MaxValue, 1 => -rng.Next(1, 5), _ => rng.Next(3, 1_000_000) };
                        request.Content = Served.Json(good.Replace("[2,1,28,28]", $"[{n},1,28,28]"));
                        kind = "shape";
                        break;
                    }
                    case 4: // binary tensor data with a wrong header length or size
                    {
                        var header = Encoding.UTF8.GetBytes(seeds[2].Replace("3136", rng.Next(2) == 0 ? "3135" : "99999999999"));
                        var body = new byte[header.Length + 3136];
                        header.CopyTo(body, 0);
                        var content = new ByteArrayContent(body);
                        content.Headers.Add("Inference-Header-Content-Length", rng.Next(3) switch { 0 => header.Length.ToString(), 1 => "-5", _ => (body.Length + 10).ToString() });
                        request.Content = content;
                        kind = "binary";
                        break;
                    }
                    case 5: // a PNG or JPEG with bytes flipped or cut
                    {
                        var bytes = rng.Next(2) == 0 ? (byte[])png.Clone() : [0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x1C, 0x00, 0x1C, 0x01, 0x01, 0x11, 0x00, 0xFF, 0xDA];
                        if (bytes.Length > 40) bytes = bytes[..rng.Next(8, bytes.Length - 12)]; // never the intact PNG
                        for (int k = rng.Next(4); k > 0; k--) bytes[rng.Next(bytes.Length)] ^= (byte)rng.Next(1, 256);
                        request.Content = new ByteArrayContent(bytes) { Headers = { ContentType = new MediaTypeHeaderValue(rng.Next(2) == 0 ? "image/png" : "image/jpeg") } };
                        kind = "image";
                        break;
                    }
                    case 6: // over the body limit
                        request.Content = Served.Json(good + new string(' ', (256 << 10) + rng.Next(1, 4096)));
                        request.Headers.ExpectContinue = true;
                        kind = "oversize";
                        break;
                    default: // wrong names and datatypes, unknown outputs, models and parameters
                        request.Content = Served.Json(rng.Next(5) switch
                        {
                            0 => good.Replace("\"FP32\"", $"\"{tokens[rng.Next(1, 4)]}\""),
                            1 => good.Replace($"\"{input}\"", "\"x" + rng.Next() + "\""),
                            2 => good.Replace("\"inputs\"", "\"outputs\":[{\"name\":\"o" + rng.Next(9) + "\"}],\"inputs\""),
                            3 => good.Replace("\"inputs\"", "\"parameters\":{\"top_k\":" + tokens[rng.Next(4, 12)] + "},\"inputs\""),
                            _ => good.Replace("\"inputs\"", "\"inputs\":[],\"x\""),
                        });
                        if (rng.Next(10) == 0) request.RequestUri = new Uri($"/v2/models/no{rng.Next()}/infer", UriKind.Relative);
                        kind = "fields";
                        break;
                }
                try
                {
                    using var response = await http.SendAsync(request);
                    var text = await response.Content.ReadAsStringAsync();
                    statuses.AddOrUpdate((int)response.StatusCode, 1, (_, n) => n + 1);
                    if ((int)response.StatusCode is < 400 or >= 500)
                    {
                        // A mutation can leave a valid request (a digit cut out of the data, say): that must be a 200;
                        // every other kind of request is invalid by construction and must be refused.
                        if (response.StatusCode != HttpStatusCode.OK || kind != "mutated json") failures.Enqueue($"{kind}: {(int)response.StatusCode} {text}");
                        continue;
                    }
                    using var doc = JsonDocument.Parse(text);
                    if (doc.RootElement.GetProperty("error").GetString() is not { Length: > 0 }) failures.Enqueue($"{kind}: empty error");
                }
                catch (Exception e) { failures.Enqueue($"{kind}: {e.GetType().Name}: {e.Message}"); }
            }
        })).ToArray();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.WhenAll(clients);
        long after = Environment.WorkingSet;
        log.WriteLine($"10,000 requests in {clock.Elapsed.TotalSeconds:F1} s; working set {before >> 20} → {after >> 20} MiB; statuses: " +
                      string.Join(", ", statuses.OrderBy(e => e.Key).Select(e => $"{e.Key}×{e.Value}")));
        foreach (var f in failures.Take(10)) log.WriteLine(f);
        Assert.Empty(failures);
        Assert.True(statuses.Where(e => e.Key is >= 400 and < 500).Sum(e => e.Value) >= 9_000, "most fuzzed requests must be refused");
        Assert.True(after - before < 256L << 20, $"the working set grew by {(after - before) >> 20} MiB");
        var ok = await s.Unix.PostAsync($"/v2/models/{task}/infer", Served.Json(good));
        using var answer = JsonDocument.Parse(await ok.Content.ReadAsStringAsync());
        Served.AssertBitEqual(s.Reference(task, images).Logits, Served.Floats(Served.Output(answer.RootElement, "logits")), "after the fuzzing");
    }
}
