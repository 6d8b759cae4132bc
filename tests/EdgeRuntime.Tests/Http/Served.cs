using System.Buffers.Binary;
using System.IO.Compression;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Http;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tests.Zoo;

namespace EdgeTvq.Runtime.Tests.Http;

/// <summary>
/// The quick zoo's bundle served over HTTP in this process: a <see cref="ModelHost"/> (one intra-op thread, so a
/// model gives the same bits every run) started on <paramref name="start"/>, the service on a Unix socket in a temp
/// folder and on a free TCP port of 127.0.0.1, and a client for each.
/// </summary>
public sealed class Served : IAsyncDisposable
{
    public ModelHost Host { get; }
    public HttpService Service { get; private set; } = null!;
    public string Socket { get; }
    public string Dir { get; }
    public HttpClient Unix { get; private set; } = null!;
    public HttpClient Tcp { get; private set; } = null!;
    public ZooBundle Zoo { get; }
    public IReadOnlyList<string> Tasks { get; }

    /// <summary>The bundle folder served (the zoo's, or a copy a test updates).</summary>
    public string Bundle { get; }

    private Served(ZooBundle zb, MergeRecipe? start, string? bundle, EdgeTvq.Bundle.BundleTrust? trust)
    {
        Zoo = zb;
        Bundle = bundle ?? zb.Bundle;
        Dir = Path.Combine(Path.GetTempPath(), "edgetvq-http-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Dir);
        Socket = Path.Combine(Dir, "api.sock");
        Host = new ModelHost(Bundle, zb.Model, new InferenceOptions { IntraOpThreads = 1 }, trust: trust);
        Tasks = Host.Manifest.Tasks.Select(t => t.Name).ToList();
        Host.Switch(start ?? MergeRecipe.Individual(Tasks[0]));
    }

    public static async Task<Served> StartAsync(ZooBundle zb, MergeRecipe? start = null, Func<ServeSettings, ServeSettings>? configure = null, Action<Served>? beforeListening = null,
        string? bundle = null, EdgeTvq.Bundle.BundleTrust? trust = null)
    {
        var s = new Served(zb, start, bundle, trust);
        beforeListening?.Invoke(s);
        var settings = new ServeSettings { Listen = ["unix:" + s.Socket, "http://127.0.0.1:0"] };
        s.Service = await HttpService.StartAsync(s.Host, s.Bundle, configure?.Invoke(settings) ?? settings);
        s.Unix = UnixClient(s.Socket);
        s.Tcp = new HttpClient { BaseAddress = new Uri(s.Service.Addresses.Single(a => a.StartsWith("http://", StringComparison.Ordinal))) };
        return s;
    }

    /// <summary>An HttpClient whose every connection is the Unix socket at <paramref name="path"/>.</summary>
    public static HttpClient UnixClient(string path) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, cancel) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancel);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    }) { BaseAddress = new Uri("http://localhost") };

    /// <summary><paramref name="n"/> test images of <paramref name="task"/>, as the files' loader reads them.</summary>
    public List<InputImage> Images(string task, int n, int skip = 0) =>
        ImageFiles.Load(Zoo.Zoo.TestImages(task), skip + n).Skip(skip).ToList();

    /// <summary>The images preprocessed for <paramref name="task"/> as the classifier does: [n, 1, 28, 28].</summary>
    public float[] Preprocessed(string task, IReadOnlyList<InputImage> images)
    {
        var p = Service.Router.Tasks[task].Preprocessing;
        var batch = new float[images.Count * 28 * 28];
        for (int i = 0; i < images.Count; i++) Preprocessor.Apply(p, images[i]).Data.CopyTo(batch.AsSpan(i * 784, 784));
        return batch;
    }

    /// <summary>An Open Inference Protocol JSON request for <paramref name="n"/> inputs of 28×28.</summary>
    public string JsonRequest(float[] batch, int n, string? extra = null)
    {
        var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("id", "r1");
            w.WriteStartArray("inputs");
            w.WriteStartObject();
            w.WriteString("name", Service.Router.InputName);
            w.WriteString("datatype", "FP32");
            w.WriteStartArray("shape");
            foreach (var d in new[] { n, 1, 28, 28 }) w.WriteNumberValue(d);
            w.WriteEndArray();
            w.WriteStartArray("data");
            foreach (var v in batch) w.WriteNumberValue(v);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        var json = Encoding.UTF8.GetString(buffer.ToArray());
        return extra is null ? json : json[..^1] + "," + extra + "}";
    }

    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    /// <summary>
    /// What each model a load test may meet gives: the recipes of <paramref name="loads"/> (model, load body) and the
    /// individual models of <paramref name="t0"/> and <paramref name="t1"/>, each switched to on this host, run on 4 test
    /// images of each task it serves. Returns the expected logits by (recipe, task) and the JSON request of each task.
    /// </summary>
    public (Dictionary<(string Recipe, string Task), float[]> Expected, Dictionary<string, string> Requests) ExpectedAnswers(
        IEnumerable<(string Model, string Body)> loads, string t0, string t1)
    {
        var recipes = loads.Select(l => RecipeDocument.Parse(Encoding.UTF8.GetBytes(JsonDocument.Parse(l.Body).RootElement.GetProperty("parameters").GetProperty("recipe").GetRawText()), "test")
                .ToRecipe(Host.Manifest, "test", l.Model))
            .Concat([MergeRecipe.Individual(t0), MergeRecipe.Individual(t1)]).ToList();
        var inputs = new[] { t0, t1 }.ToDictionary(t => t, t => Preprocessed(t, Images(t, 4)));
        var expected = new Dictionary<(string Recipe, string Task), float[]>();
        foreach (var r in recipes)
        {
            Host.Switch(r);
            using var lease = Host.Acquire();
            foreach (var t in new[] { t0, t1 })
                if (lease.Model.Tasks.ContainsKey(t)) expected[(r.ToString(), t)] = TaskRunner.Outputs(lease.Model, t, inputs[t], [4, 1, 28, 28]).Data;
        }
        return (expected, inputs.ToDictionary(e => e.Key, e => JsonRequest(e.Value, 4)));
    }

    /// <summary>
    /// 1,000 inferences from 8 clients (even ones on the Unix socket, odd ones on TCP), for <paramref name="t1"/> one time
    /// in four and <paramref name="t0"/> otherwise. Every answer must be 200 and equal, bit for bit, the logits
    /// <paramref name="expected"/> holds for the (recipe, task) it names; <paramref name="checkGeneration"/> judges the
    /// generation it names (null: fine). Failures are queued; <paramref name="onAnswer"/> gets (recipe, generation) of each good answer.
    /// </summary>
    public Task Clients(string t0, string t1, IReadOnlyDictionary<string, string> requests, IReadOnlyDictionary<(string Recipe, string Task), float[]> expected,
        System.Collections.Concurrent.ConcurrentQueue<string> failures, Func<string, HttpResponseMessage, string?> checkGeneration, Action<string, string> onAnswer)
    {
        int next = 0;
        return Task.WhenAll(Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            var http = c % 2 == 0 ? Unix : Tcp;
            while (Interlocked.Increment(ref next) <= 1000)
            {
                string task = Random.Shared.Next(4) == 0 ? t1 : t0;
                try
                {
                    var response = await http.PostAsync($"/v2/models/{task}/infer", Json(requests[task]));
                    var body = await response.Content.ReadAsStringAsync();
                    if (response.StatusCode != System.Net.HttpStatusCode.OK) { failures.Enqueue($"{task}: {(int)response.StatusCode} {body}"); continue; }
                    using var doc = JsonDocument.Parse(body);
                    var p = doc.RootElement.GetProperty("parameters");
                    string recipe = p.GetProperty("recipe").GetString()!, generation = p.GetProperty("bundle_generation").GetString()!;
                    if (checkGeneration(generation, response) is { } wrong) failures.Enqueue(wrong);
                    if (!expected.TryGetValue((recipe, task), out var want)) { failures.Enqueue($"{task}: answered by an unexpected model {recipe}"); continue; }
                    var got = Floats(Output(doc.RootElement, "logits"));
                    if (!want.Select(BitConverter.SingleToInt32Bits).SequenceEqual(got.Select(BitConverter.SingleToInt32Bits)))
                        failures.Enqueue($"{task} on {recipe} ({generation}): logits differ from that model's");
                    onAnswer(recipe, generation);
                }
                catch (Exception e) { failures.Enqueue($"{task}: {e.GetType().Name}: {e.Message}"); }
            }
        })));
    }

    /// <summary>What the host's live model gives for these inputs through the classifier: logits and top-3.</summary>
    public (float[] Logits, List<TaskResult> Top) Reference(string task, IReadOnlyList<InputImage> images)
    {
        using var lease = Host.Acquire();
        return (TaskRunner.Outputs(lease.Model, task, Preprocessed(task, images), [images.Count, 1, 28, 28]).Data, TaskRunner.Run(lease.Model, task, images, 3));
    }

    public static float[] Floats(JsonElement output) => output.GetProperty("data").EnumerateArray().Select(e => e.GetSingle()).ToArray();

    public static JsonElement Output(JsonElement response, string name) =>
        response.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == name);

    public static void AssertBitEqual(float[] expected, float[] actual, string what)
    {
        Assert.True(expected.Length == actual.Length, $"{what}: {actual.Length} values, expected {expected.Length}");
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what}[{i}]: {actual[i]:R} != {expected[i]:R}");
    }

    /// <summary>A grayscale 8-bit PNG of a size×size image (stored with zlib, one filter byte per row).</summary>
    public static byte[] Png(byte[] pixels, int size)
    {
        var raw = new MemoryStream();
        for (int y = 0; y < size; y++) { raw.WriteByte(0); raw.Write(pixels, y * size, size); }
        var idat = new MemoryStream();
        using (var z = new ZLibStream(idat, CompressionLevel.Optimal, leaveOpen: true)) z.Write(raw.ToArray());
        var png = new MemoryStream();
        png.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(ihdr, size);
        BinaryPrimitives.WriteInt32BigEndian(ihdr.AsSpan(4), size);
        ihdr[8] = 8; // bit depth; colour type 0 (grey), compression, filter, interlace 0
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", idat.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    private static void Chunk(Stream to, string type, byte[] data)
    {
        var header = new byte[8];
        BinaryPrimitives.WriteInt32BigEndian(header, data.Length);
        Encoding.ASCII.GetBytes(type).CopyTo(header, 4);
        to.Write(header);
        to.Write(data);
        var crcInput = header.AsSpan(4).ToArray().Concat(data).ToArray();
        var crc = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crc, Crc32(crcInput));
        to.Write(crc);
    }

    private static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    public async ValueTask DisposeAsync()
    {
        Unix?.Dispose();
        Tcp?.Dispose();
        if (Service is not null) await Service.DisposeAsync();
        Host.Dispose();
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}
