using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Http;
using EdgeTvq.Runtime.Tests.Zoo;

namespace EdgeTvq.Runtime.Tests.Http;

/// <summary>The Open Inference Protocol endpoints of <c>edgetvq serve</c> against the quick zoo, over the Unix socket and TCP.</summary>
[Collection(ZooBundleCollection.Name)]
public class HttpApiTests(ZooBundle zb)
{
    private static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Send(HttpClient c, HttpMethod method, string path, HttpContent? content = null)
    {
        // Expect: 100-continue, as curl sends it for large bodies: a body over the limit is refused before it is sent
        // (a server that answers early and closes would otherwise reset a client still sending).
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (content is not null) request.Headers.ExpectContinue = true;
        var response = await c.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        using var doc = JsonDocument.Parse(bytes.Length == 0 ? "null"u8.ToArray() : bytes);
        return (response.StatusCode, doc.RootElement.Clone(), response);
    }

    [Fact]
    public async Task Health_and_metadata_answer_over_the_unix_socket_and_tcp_and_the_socket_is_0660()
    {
        await using var s = await Served.StartAsync(zb);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite, File.GetUnixFileMode(s.Socket));
        foreach (var c in new[] { s.Unix, s.Tcp })
        {
            var (status, body, response) = await Send(c, HttpMethod.Get, "/v2/health/live");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(s.Host.BundleGeneration, response.Headers.GetValues(HttpService.GenerationHeader).Single());
            Assert.Equal(HttpStatusCode.OK, (await Send(c, HttpMethod.Get, "/v2/health/ready")).Status);
            (status, body, _) = await Send(c, HttpMethod.Get, "/v2");
            Assert.Equal("edgetvq", body.GetProperty("name").GetString());
            Assert.Contains("binary_tensor_data", body.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()));
            (status, body, _) = await Send(c, HttpMethod.Get, $"/v2/models/{s.Tasks[1]}");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(s.Tasks[1], body.GetProperty("name").GetString());
            var input = body.GetProperty("inputs")[0];
            Assert.Equal(s.Service.Router.InputName, input.GetProperty("name").GetString());
            Assert.Equal("FP32", input.GetProperty("datatype").GetString());
            Assert.Equal([-1L, 1, 28, 28], input.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal([-1L, 10], Served.Output(body, "logits").GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
            Assert.Equal(HttpStatusCode.OK, (await Send(c, HttpMethod.Get, $"/v2/models/{s.Tasks[0]}/ready")).Status);
            Assert.Equal(HttpStatusCode.BadRequest, (await Send(c, HttpMethod.Get, $"/v2/models/{s.Tasks[1]}/ready")).Status); // not loaded
            Assert.Equal(HttpStatusCode.OK, (await Send(c, HttpMethod.Get, $"/v2/models/{s.Tasks[0]}/versions/{s.Host.BundleGeneration}/ready")).Status);
        }
    }

    [Fact]
    public async Task Json_and_binary_inference_equal_the_classifier_bit_for_bit()
    {
        await using var s = await Served.StartAsync(zb);
        string task = s.Tasks[0];
        Assert.Equal((28, 28), s.Service.Router.Tasks[task].Preprocessing.FixedSize);
        var images = s.Images(task, 10);
        var batch = s.Preprocessed(task, images);
        var (logits, top) = s.Reference(task, images);

        // JSON tensors over the Unix socket.
        var (status, body, response) = await Send(s.Unix, HttpMethod.Post, $"/v2/models/{task}/infer", Served.Json(s.JsonRequest(batch, 10)));
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal("r1", body.GetProperty("id").GetString());
        Assert.Equal(task, body.GetProperty("model_name").GetString());
        Assert.Equal(MergeRecipe.Individual(task).ToString(), body.GetProperty("parameters").GetProperty("recipe").GetString());
        Assert.Equal(s.Host.BundleGeneration, body.GetProperty("parameters").GetProperty("bundle_generation").GetString());
        Assert.Equal(MergeRecipe.Individual(task).ToString(), Uri.UnescapeDataString(response.Headers.GetValues(HttpService.RecipeHeader).Single()));
        Served.AssertBitEqual(logits, Served.Floats(Served.Output(body, "logits")), "json logits");
        Assert.Equal([10L, 10], Served.Output(body, "logits").GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()));
        var index = Served.Output(body, "top_index").GetProperty("data").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var probability = Served.Floats(Served.Output(body, "top_probability"));
        var label = Served.Output(body, "top_label").GetProperty("data").EnumerateArray().Select(e => e.GetString()).ToArray();
        Assert.Equal(top.SelectMany(c => c.Top!.Select(t => (long)t.Index)), index);
        Served.AssertBitEqual(top.SelectMany(c => c.Top!.Select(t => t.Probability)).ToArray(), probability, "top probabilities");
        Assert.Equal(top.SelectMany(c => c.Top!.Select(t => t.Label)), label);
        var probabilities = Served.Floats(Served.Output(body, "probabilities"));
        Assert.Equal(top[0].Top![0].Probability, probabilities[top[0].Top![0].Index]);

        // Binary tensor data over TCP: the input after the JSON header, every output asked back as binary.
        var header = $$$"""{"inputs":[{"name":"{{{s.Service.Router.InputName}}}","datatype":"FP32","shape":[10,1,28,28],"parameters":{"binary_data_size":{{{batch.Length * 4}}}}}],"parameters":{"binary_data_output":true,"top_k":2}}""";
        var headerBytes = Encoding.UTF8.GetBytes(header);
        var request = new byte[headerBytes.Length + batch.Length * 4];
        headerBytes.CopyTo(request, 0);
        for (int i = 0; i < batch.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(request.AsSpan(headerBytes.Length + i * 4), batch[i]);
        var content = new ByteArrayContent(request);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        content.Headers.Add(InferenceApi.HeaderLengthHeader, headerBytes.Length.ToString());
        var binaryResponse = await s.Tcp.PostAsync($"/v2/models/{task}/infer", content);
        var all = await binaryResponse.Content.ReadAsByteArrayAsync();
        Assert.True(binaryResponse.StatusCode == HttpStatusCode.OK, Encoding.UTF8.GetString(all));
        int jsonLength = int.Parse(binaryResponse.Headers.GetValues(InferenceApi.HeaderLengthHeader).Single());
        using var doc = JsonDocument.Parse(all.AsMemory(0, jsonLength));
        int at = jsonLength;
        var outputs = new Dictionary<string, byte[]>();
        foreach (var o in doc.RootElement.GetProperty("outputs").EnumerateArray())
        {
            Assert.False(o.TryGetProperty("data", out _));
            int size = o.GetProperty("parameters").GetProperty("binary_data_size").GetInt32();
            outputs[o.GetProperty("name").GetString()!] = all.AsSpan(at, size).ToArray();
            at += size;
        }
        Assert.Equal(all.Length, at);
        var binaryLogits = Enumerable.Range(0, outputs["logits"].Length / 4).Select(i => BinaryPrimitives.ReadSingleLittleEndian(outputs["logits"].AsSpan(i * 4))).ToArray();
        Served.AssertBitEqual(logits, binaryLogits, "binary logits");
        var binaryIndex = Enumerable.Range(0, outputs["top_index"].Length / 8).Select(i => BinaryPrimitives.ReadInt64LittleEndian(outputs["top_index"].AsSpan(i * 8))).ToArray();
        Assert.Equal(top.SelectMany(c => c.Top!.Take(2).Select(t => (long)t.Index)), binaryIndex);
        int first = BinaryPrimitives.ReadInt32LittleEndian(outputs["top_label"]);
        Assert.Equal(top[0].Top![0].Label, Encoding.UTF8.GetString(outputs["top_label"], 4, first));
    }

    [Fact]
    public async Task A_png_body_is_decoded_and_preprocessed_as_edgetvq_run_does_it()
    {
        await using var s = await Served.StartAsync(zb);
        string task = s.Tasks[0];
        var image = s.Images(task, 1, skip: 3)[0];
        var png = Served.Png(image.Pixels, 28);
        var decoded = EdgeTvq.Runtime.Input.ImageFiles.Decode("x.png", png);
        var (logits, top) = s.Reference(task, [decoded]);
        var content = new ByteArrayContent(png);
        content.Headers.ContentType = new MediaTypeHeaderValue("image/png");
        var (status, body, _) = await Send(s.Unix, HttpMethod.Post, $"/v2/models/{task}/infer", content);
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Served.AssertBitEqual(logits, Served.Floats(Served.Output(body, "logits")), "png logits");
        Assert.Equal(top[0].Top!.Select(t => t.Label), Served.Output(body, "top_label").GetProperty("data").EnumerateArray().Select(e => e.GetString()));
    }

    [Fact]
    public async Task Bad_requests_get_a_4xx_naming_the_problem_and_the_service_keeps_serving()
    {
        await using var s = await Served.StartAsync(zb, configure: c => c with { MaxBodyBytes = 1 << 20 });
        string task = s.Tasks[0], input = s.Service.Router.InputName;
        var images = s.Images(task, 2);
        var good = s.JsonRequest(s.Preprocessed(task, images), 2);
        var cases = new (string Path, HttpContent Content, HttpStatusCode Status, string Says)[]
        {
            ("/v2/models/nosuch/infer", Served.Json(good), HttpStatusCode.NotFound, "unknown model 'nosuch'"),
            ($"/v2/models/{task}/infer", Served.Json("{\"inputs\": [ {"), HttpStatusCode.BadRequest, "malformed JSON"),
            ($"/v2/models/{task}/infer", Served.Json(good.Replace("\"FP32\"", "\"INT64\"")), HttpStatusCode.BadRequest, "datatype INT64"),
            ($"/v2/models/{task}/infer", Served.Json(good.Replace("[2,1,28,28]", "[2,1,27,29]")), HttpStatusCode.BadRequest, "takes [n,1,28,28]"),
            ($"/v2/models/{task}/infer", Served.Json(good.Replace("[2,1,28,28]", "[3,1,28,28]")), HttpStatusCode.BadRequest, "needs 2352"),
            ($"/v2/models/{task}/infer", Served.Json(good.Replace("[2,1,28,28]", "[9223372036854775807,1,28,28]")), HttpStatusCode.BadRequest, "more than a"),
            ($"/v2/models/{task}/infer", Served.Json(good.Replace($"\"{input}\"", "\"pixels\"")), HttpStatusCode.BadRequest, "model's input is"),
            ($"/v2/models/{task}/infer", Served.Json(good.Replace("\"inputs\"", "\"outputs\":[{\"name\":\"embedding\"}],\"inputs\"")), HttpStatusCode.BadRequest, "unknown output 'embedding'"),
            ($"/v2/models/{task}/infer", Served.Json(good + new string(' ', 1 << 20)), HttpStatusCode.RequestEntityTooLarge, "limit of 1048576 bytes"),
            ($"/v2/models/{task}/infer", new ByteArrayContent([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]) { Headers = { ContentType = new("image/png") } }, HttpStatusCode.BadRequest, "broken image"),
            ($"/v2/repository/models/{task}/load", Served.Json("{\"parameters\": {\"recipe\": {\"method\": \"nosuch\"}}}"), HttpStatusCode.BadRequest, "not a merging method"),
            ($"/v2/repository/models/{task}/load", Served.Json($"{{\"recipe\": {{\"method\": \"ta\", \"tasks\": [\"{s.Tasks[1]}\"]}}}}"), HttpStatusCode.BadRequest, $"does not serve model '{task}'"),
            ("/v2/nothing", Served.Json("{}"), HttpStatusCode.NotFound, "no endpoint"),
        };
        foreach (var (path, content, expected, says) in cases)
        {
            var (status, body, _) = await Send(s.Unix, HttpMethod.Post, path, content);
            Assert.True(status == expected, $"{path}: {(int)status} {body}");
            Assert.Contains(says, body.GetProperty("error").GetString());
        }
        var (get, getBody, response) = await Send(s.Tcp, HttpMethod.Get, $"/v2/models/{task}/infer");
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get);
        Assert.Contains("use POST", getBody.GetProperty("error").GetString());
        var (ok, okBody, _) = await Send(s.Unix, HttpMethod.Post, $"/v2/models/{task}/infer", Served.Json(good));
        Assert.True(ok == HttpStatusCode.OK, okBody.ToString());
    }

    [Fact]
    public async Task Requests_switch_per_task_models_on_demand_merged_models_serve_their_tasks_and_the_switch_can_be_refused()
    {
        await using (var s = await Served.StartAsync(zb))
        {
            string t0 = s.Tasks[0], t1 = s.Tasks[1];
            var images = s.Images(t1, 2);
            var (status, body, _) = await Send(s.Unix, HttpMethod.Post, $"/v2/models/{t1}/infer", Served.Json(s.JsonRequest(s.Preprocessed(t1, images), 2)));
            Assert.True(status == HttpStatusCode.OK, body.ToString());
            Assert.Equal(MergeRecipe.Individual(t1).ToString(), body.GetProperty("parameters").GetProperty("recipe").GetString());
            Served.AssertBitEqual(s.Reference(t1, images).Logits, Served.Floats(Served.Output(body, "logits")), "after the switch");

            // A merged model (task arithmetic over t0 and t1) serves both without switching.
            var load = "{\"parameters\": {\"recipe\": {\"method\": \"task_arithmetic\", \"tasks\": [\"" + t0 + "\", \"" + t1 + "\"], \"lambda\": 0.4}}}";
            (status, body, _) = await Send(s.Tcp, HttpMethod.Post, $"/v2/repository/models/{t0}/load", Served.Json(load));
            Assert.True(status == HttpStatusCode.OK, body.ToString());
            Assert.True(body.GetProperty("switched").GetBoolean());
            string merged = body.GetProperty("recipe").GetString()!;
            foreach (var t in new[] { t0, t1 })
            {
                (status, body, _) = await Send(s.Unix, HttpMethod.Post, $"/v2/models/{t}/infer", Served.Json(s.JsonRequest(s.Preprocessed(t, s.Images(t, 1)), 1)));
                Assert.Equal(merged, body.GetProperty("parameters").GetProperty("recipe").GetString());
            }
            (status, body, _) = await Send(s.Unix, HttpMethod.Post, "/v2/repository/index", Served.Json("{\"ready\": true}"));
            Assert.Equal([t0, t1], body.EnumerateArray().Select(e => e.GetProperty("name").GetString()));
            (status, body, _) = await Send(s.Unix, HttpMethod.Post, "/v2/repository/index");
            Assert.Equal(s.Tasks.Count, body.GetArrayLength());
            Assert.Equal(HttpStatusCode.Conflict, (await Send(s.Unix, HttpMethod.Post, $"/v2/repository/models/{t1}/unload")).Status);
            Assert.Equal(HttpStatusCode.OK, (await Send(s.Unix, HttpMethod.Post, $"/v2/repository/models/{s.Tasks[2]}/unload")).Status);
            (status, body, _) = await Send(s.Unix, HttpMethod.Post, $"/v2/repository/models/{t0}/load", Served.Json(load));
            Assert.False(body.GetProperty("switched").GetBoolean()); // already live

            var metrics = await s.Unix.GetStringAsync("/metrics");
            Assert.Contains($"edgetvq_requests_total{{model=\"{t1}\",code=\"200\"}} 2", metrics);
            Assert.Contains($"edgetvq_inference_duration_seconds_count{{model=\"{t0}\"}} 1", metrics);
            Assert.Contains("edgetvq_switches_total{reason=\"auto\"} 1", metrics);
            Assert.Contains("edgetvq_switches_total{reason=\"load\"} 1", metrics);
            Assert.Contains($"edgetvq_bundle_info{{generation=\"{s.Host.BundleGeneration}\"}} 1", metrics);
            Assert.Matches(@"edgetvq_resident_memory_bytes [1-9][0-9]{6,}\n", metrics);
        }
        await using (var s = await Served.StartAsync(zb, configure: c => c with { AutoSwitch = false }))
        {
            string t1 = s.Tasks[1];
            var (status, body, _) = await Send(s.Unix, HttpMethod.Post, $"/v2/models/{t1}/infer", Served.Json(s.JsonRequest(s.Preprocessed(t1, s.Images(t1, 1)), 1)));
            Assert.Equal(HttpStatusCode.Conflict, status);
            Assert.Contains($"/v2/repository/models/{t1}/load", body.GetProperty("error").GetString());
        }
    }

    [Fact]
    public async Task A_stale_socket_is_replaced_but_a_regular_file_or_a_live_socket_is_left_alone()
    {
        string dir = Path.Combine(Path.GetTempPath(), "edgetvq-sock-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            string stale = Path.Combine(dir, "stale.sock");
            // A socket file nobody listens on, as a killed server leaves it.
            using (var p = Process.Start("python3", ["-c", $"import socket; socket.socket(socket.AF_UNIX).bind('{stale}')"])) p.WaitForExit();
            Assert.True(File.Exists(stale));
            string file = Path.Combine(dir, "file.sock");
            File.WriteAllText(file, "keep me");
            await using var s = await Served.StartAsync(zb);
            await using (var again = await HttpService.StartAsync(s.Host, zb.Bundle, new ServeSettings { Listen = ["unix:" + stale] }))
            {
                using var c = Served.UnixClient(stale);
                Assert.Equal(HttpStatusCode.OK, (await c.GetAsync("/v2/health/live")).StatusCode);
            }
            Assert.False(File.Exists(stale)); // removed at shutdown
            var e = await Assert.ThrowsAsync<ArgumentException>(() => HttpService.StartAsync(s.Host, zb.Bundle, new ServeSettings { Listen = ["unix:" + file] }));
            Assert.Contains("not a socket", e.Message);
            Assert.Equal("keep me", File.ReadAllText(file));
            e = await Assert.ThrowsAsync<ArgumentException>(() => HttpService.StartAsync(s.Host, zb.Bundle, new ServeSettings { Listen = ["unix:" + s.Socket] }));
            Assert.Contains("another process", e.Message);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public async Task Curl_over_the_unix_socket_gets_health_and_an_inference()
    {
        await using var s = await Served.StartAsync(zb);
        string task = s.Tasks[0];
        var images = s.Images(task, 3);
        string request = Path.Combine(s.Dir, "request.json");
        File.WriteAllText(request, s.JsonRequest(s.Preprocessed(task, images), 3));
        string Curl(string args)
        {
            var psi = new ProcessStartInfo("bash", ["-c", $"curl -sS --max-time 60 --unix-socket '{s.Socket}' {args}"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEndAsync();
            var error = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, $"curl {args}: exit {p.ExitCode}: {error}");
            return output.Result;
        }
        Assert.Equal("200", Curl("-o /dev/null -w '%{http_code}' http://localhost/v2/health/ready"));
        var answer = Curl($"-H 'Content-Type: application/json' --data-binary @'{request}' http://localhost/v2/models/{task}/infer");
        using var doc = JsonDocument.Parse(answer);
        Served.AssertBitEqual(s.Reference(task, images).Logits, Served.Floats(Served.Output(doc.RootElement, "logits")), "curl logits");
        Assert.Contains("\"error\"", Curl($"-H 'Content-Type: application/json' -d '{{' http://localhost/v2/models/{task}/infer"));
    }
}
