using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using EdgeTvq.Bundle;
using EdgeTvq.IO;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace EdgeTvq.Runtime.Http;

/// <summary>The service's settings: where it listens and its limits (edgetvq serve's options).</summary>
public sealed record ServeSettings
{
    public const string DefaultListen = "unix:/run/edgetvq/api.sock";
    /// <summary>unix:PATH or http://HOST:PORT (HOST: an IP address, localhost, or * for every address).</summary>
    public IReadOnlyList<string> Listen { get; init; } = [DefaultListen];
    public long MaxBodyBytes { get; init; } = 64L << 20;
    /// <summary>Inferences that run at once; more wait in the queue.</summary>
    public int MaxConcurrent { get; init; } = Math.Max(1, Environment.ProcessorCount);
    /// <summary>Inferences that may wait for a slot; beyond them a request is answered 503 with Retry-After.</summary>
    public int MaxQueue { get; init; } = 16;
    /// <summary>Switch to a per-task model when a request names a task the live model does not serve (else 409).</summary>
    public bool AutoSwitch { get; init; } = true;
    /// <summary>--telemetry: temperatures and power rails in /metrics and GET /v2; null: off.</summary>
    public EdgeTvq.Runtime.Device.SysfsTelemetry? Telemetry { get; init; }
}

/// <summary>
/// <c>edgetvq serve</c>'s HTTP service: the Open Inference Protocol (KServe v2 / Triton HTTP/REST) over Kestrel, on a
/// Unix socket and/or TCP. The models of the API are the bundle's tasks (<see cref="ModelRouter"/>); every inference
/// holds a <see cref="Lease"/> on one complete model from the moment it is routed until its answer is computed, so
/// switches never mix models. docs/runtime.md describes the endpoints.
/// </summary>
public sealed class HttpService : IAsyncDisposable
{
    public const string GenerationHeader = "EdgeTvq-Bundle-Generation", RecipeHeader = "EdgeTvq-Recipe";
    private static readonly string[] Extensions = ["binary_tensor_data", "model_repository", "parameters"];

    private readonly WebApplication _app;
    private readonly ModelRouter _router;
    private readonly ServeSettings _settings;
    private readonly SemaphoreSlim _slots;
    private readonly List<string> _sockets = [];
    private int _admitted; // inferences running or waiting for a slot
    private FileSystemWatcher? _watcher;
    private Timer? _reloadTimer;
    public const string ReloadRefusedHeader = "EdgeTvq-Reload-Refused";

    public ServiceMetrics Metrics { get; }
    public ModelRouter Router => _router;
    /// <summary>The addresses bound (TCP ports resolved), as unix:PATH or http://HOST:PORT.</summary>
    public IReadOnlyList<string> Addresses { get; private set; } = [];

    private HttpService(WebApplication app, ModelRouter router, ServeSettings settings, ServiceMetrics metrics)
    {
        (_app, _router, _settings, Metrics) = (app, router, settings, metrics);
        _slots = new SemaphoreSlim(settings.MaxConcurrent, settings.MaxConcurrent);
    }

    /// <summary>Builds the service over a host that already serves a model and starts listening.</summary>
    public static async Task<HttpService> StartAsync(ModelHost host, string bundleDir, ServeSettings settings, ServiceMetrics? metrics = null)
    {
        if (settings.Listen.Count == 0) throw new ArgumentException("--listen: give at least one address");
        if (settings.MaxBodyBytes is < 1024 or > int.MaxValue) throw new ArgumentException($"--max-body-bytes must be between 1024 and {int.MaxValue}, got {settings.MaxBodyBytes}");
        if (settings.MaxConcurrent < 1) throw new ArgumentException("--max-concurrent must be 1 or more");
        if (settings.MaxQueue < 0) throw new ArgumentException("--max-queue must be 0 or more");
        var endpoints = settings.Listen.Select(ParseListen).ToList();
        foreach (var (socket, _, _) in endpoints) if (socket is not null) PrepareSocketPath(socket);
        metrics ??= new ServiceMetrics(host.Manifest.Tasks.Select(t => t.Name), host.BundleGeneration);
        var router = new ModelRouter(host, settings.AutoSwitch, metrics, bundleDir);

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ApplicationName = "edgetvq", Args = [] });
        builder.Configuration.Sources.Clear(); // no appsettings.json or ASPNETCORE_* variables: the command line is the configuration
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = settings.MaxBodyBytes;
            foreach (var (socket, ip, port) in endpoints)
            {
                if (socket is not null) k.ListenUnixSocket(socket);
                else if (ip is null) k.ListenLocalhost(port);
                else k.Listen(ip, port);
            }
        });
        var app = builder.Build();
        var service = new HttpService(app, router, settings, metrics);
        service._sockets.AddRange(endpoints.Where(e => e.Socket is not null).Select(e => e.Socket!));
        app.Run(service.HandleAsync);
        await app.StartAsync();
        foreach (var socket in service._sockets)
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(socket, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
        service.Addresses = bound.Select(a => a.StartsWith("http://unix:", StringComparison.Ordinal) ? "unix:" + a["http://unix:".Length..] : a).ToList();
        service.WatchManifest(bundleDir);
        return service;
    }

    /// <summary>
    /// Watches the bundle folder for a new manifest.json (an <c>edgetvq update</c> renames one into place) and picks the
    /// new generation up shortly after, as POST /v2/repository/index does at once. A refused generation (bad signature,
    /// another bundle) is reported on standard error and in /metrics; the old one keeps serving.
    /// </summary>
    private void WatchManifest(string bundleDir)
    {
        _reloadTimer = new Timer(_ => _ = ReloadAsync(CancellationToken.None), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(bundleDir, Format.FormatConstants.ManifestFileName) { NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite };
        FileSystemEventHandler poke = (_, _) => _reloadTimer.Change(300, Timeout.Infinite); // settle: an update renames several files
        _watcher.Created += poke;
        _watcher.Changed += poke;
        _watcher.Renamed += (_, _) => _reloadTimer.Change(300, Timeout.Infinite);
        _watcher.EnableRaisingEvents = true;
    }

    /// <summary>Reloads; null when the generation was picked up (or unchanged), else why it was refused.</summary>
    private async Task<string?> ReloadAsync(CancellationToken cancel)
    {
        try
        {
            var report = await _router.ReloadAsync(cancel);
            if (report.Changed)
            {
                Metrics.Reloaded(ok: true);
                Console.WriteLine($"picked up bundle generation {report.Current} (was {report.Previous}): {_router.TaskNames.Count} tasks" +
                    (report.Switch is { } s ? $"; the live model lost a task, switched to {s.Recipe}" : ""));
            }
            return null;
        }
        catch (Exception e) when (ExitCodes.For(e) is not null)
        {
            Metrics.Reloaded(ok: false);
            Console.Error.WriteLine($"error: new bundle generation refused, still serving {_router.BundleGeneration}: {e.Message}");
            return e.Message;
        }
    }

    /// <summary>unix:PATH → (PATH, -, -); http://HOST:PORT → (-, address or null for localhost, PORT).</summary>
    internal static (string? Socket, IPAddress? Ip, int Port) ParseListen(string listen)
    {
        if (listen.StartsWith("unix:", StringComparison.Ordinal))
        {
            var path = listen[5..];
            if (path.Length == 0) throw new ArgumentException("--listen unix:PATH needs a path");
            return (Path.GetFullPath(path), null, 0);
        }
        if (!listen.StartsWith("http://", StringComparison.OrdinalIgnoreCase) || !Uri.TryCreate(listen.Replace("://*:", "://0.0.0.0:"), UriKind.Absolute, out var uri)
            || uri.AbsolutePath != "/" || uri.IsDefaultPort && !listen.TrimEnd('/').EndsWith(":80", StringComparison.Ordinal))
            throw new ArgumentException($"--listen '{listen}': give unix:PATH or http://HOST:PORT (HTTPS is not served; put a proxy in front for TLS)");
        if (uri.Host == "localhost") return (null, null, uri.Port);
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) ? (null, ip, uri.Port)
            : throw new ArgumentException($"--listen '{listen}': the host must be an IP address, localhost or *");
    }

    /// <summary>
    /// A socket file left by a previous run is removed; anything else at the path (a regular file, a folder), or a
    /// socket another process still answers on, is refused.
    /// </summary>
    private static void PrepareSocketPath(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(dir)) throw new ArgumentException($"--listen unix:{path}: the folder {dir} does not exist");
        switch (LocalFile.KindOf(path))
        {
            case LocalFileKind.Missing: return;
            case LocalFileKind.Socket:
                using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
                {
                    try
                    {
                        probe.Connect(new UnixDomainSocketEndPoint(path));
                        throw new ArgumentException($"--listen unix:{path}: another process is serving on this socket");
                    }
                    catch (SocketException) { } // nobody listens: a stale socket
                }
                File.Delete(path);
                return;
            default:
                throw new ArgumentException($"--listen unix:{path}: the path exists and is not a socket; not removing it");
        }
    }

    public Task WaitForShutdownAsync() => Microsoft.Extensions.Hosting.HostingAbstractionsHostExtensions.WaitForShutdownAsync(_app);

    public async ValueTask DisposeAsync()
    {
        _watcher?.Dispose();
        if (_reloadTimer is not null) await _reloadTimer.DisposeAsync();
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var socket in _sockets)
            if (LocalFile.KindOf(socket) == LocalFileKind.Socket) File.Delete(socket);
    }

    private async Task HandleAsync(HttpContext ctx)
    {
        string? model = null;
        double? inferSeconds = null;
        ctx.Response.Headers[GenerationHeader] = _router.BundleGeneration;
        try
        {
            var path = ctx.Request.Path.Value ?? "/";
            var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            string method = ctx.Request.Method;
            switch (parts)
            {
                case ["metrics"]:
                    Allow(ctx, "GET");
                    await Write(ctx, 200, Encoding.UTF8.GetBytes(Metrics.Render(_router.LiveRecipe(), _settings.Telemetry?.Read())), "text/plain; version=0.0.4; charset=utf-8");
                    return;
                case ["v2"]:
                    Allow(ctx, "GET");
                    await WriteJson(ctx, 200, new ServerMetadataJson { Name = "edgetvq", Version = Version, Extensions = [.. Extensions], Parameters = TelemetryJson() },
                        OipJsonContext.Default.ServerMetadataJson);
                    return;
                case ["v2", "health", "live"]:
                    Allow(ctx, "GET");
                    await Write(ctx, 200, """{"live":true}"""u8.ToArray(), "application/json");
                    return;
                case ["v2", "health", "ready"]:
                    Allow(ctx, "GET");
                    await Write(ctx, 200, """{"ready":true}"""u8.ToArray(), "application/json");
                    return;
                case ["v2", "repository", "index"]:
                    Allow(ctx, "POST");
                    await Index(ctx);
                    return;
                case ["v2", "repository", "models", var name, var action and ("load" or "unload")]:
                    Allow(ctx, "POST");
                    model = name;
                    _router.Find(name);
                    if (action == "load") await Load(ctx, name); else await Unload(ctx, name);
                    return;
                case ["v2", "models", var name, .. var rest]:
                    model = name;
                    if (rest is ["versions", var version, .. var after])
                    {
                        _router.Find(name);
                        if (version != _router.BundleGeneration)
                            throw new ApiException(404, $"model '{name}' has no version '{ModelRouter.Trim(version)}'; its version is the bundle generation {_router.BundleGeneration}");
                        rest = after;
                    }
                    switch (rest)
                    {
                        case []: Allow(ctx, "GET"); await Metadata(ctx, name); return;
                        case ["ready"]: Allow(ctx, "GET"); await Ready(ctx, name); return;
                        case ["infer"]:
                            Allow(ctx, "POST");
                            var clock = Stopwatch.StartNew();
                            await Infer(ctx, name);
                            inferSeconds = clock.Elapsed.TotalSeconds;
                            return;
                    }
                    break;
            }
            throw new ApiException(404, $"no endpoint {method} {ModelRouter.Trim(path)}; the endpoints are GET /v2, /v2/health/live, /v2/health/ready, " +
                                        "/v2/models/TASK, /v2/models/TASK/ready, /metrics; POST /v2/models/TASK/infer, /v2/repository/index, " +
                                        "/v2/repository/models/TASK/load, /v2/repository/models/TASK/unload");
        }
        catch (ApiException e)
        {
            if (e.RetryAfter is { } seconds) ctx.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await Error(ctx, e.Status, e.Message);
        }
        catch (BadHttpRequestException e)
        {
            await Error(ctx, e.StatusCode, e.StatusCode == StatusCodes.Status413PayloadTooLarge
                ? $"the request body is larger than the limit of {_settings.MaxBodyBytes} bytes (--max-body-bytes)" : $"bad request: {e.Message}");
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            ctx.Abort(); // the client went away
        }
        catch (Exception e) when (ExitCodes.For(e) is { } code)
        {
            // ArgumentException: a value the client sent (a recipe, a coefficient); the rest: the bundle or a merge step
            // failed on the server, and the live model is still the previous one.
            await Error(ctx, code == ExitCodes.BadUsage ? 400 : 500, e.Message);
        }
        catch (Exception e)
        {
            await Error(ctx, 500, $"internal error ({e.GetType().Name}): {e.Message}");
        }
        finally
        {
            Metrics.Request(model, ctx.Response.StatusCode, ctx.Response.StatusCode == 200 ? inferSeconds : null);
        }
    }

    private static void Allow(HttpContext ctx, string method)
    {
        if (ctx.Request.Method == method || (method == "GET" && ctx.Request.Method == "HEAD")) return;
        ctx.Response.Headers.Allow = method;
        throw new ApiException(405, $"{ctx.Request.Method} is not allowed on {ctx.Request.Path}; use {method}");
    }

    private async Task Infer(HttpContext ctx, string task)
    {
        var info = _router.Find(task);
        if (Interlocked.Increment(ref _admitted) > _settings.MaxConcurrent + _settings.MaxQueue)
        {
            Interlocked.Decrement(ref _admitted);
            Metrics.Rejected();
            throw new ApiException(503, $"busy: {_settings.MaxConcurrent} inferences are running and {_settings.MaxQueue} waiting (--max-concurrent, --max-queue); retry later") { RetryAfter = 1 };
        }
        Metrics.EnterInference();
        try
        {
            var body = await ReadBody(ctx);
            var contentType = ctx.Request.ContentType ?? "";
            InferCall call;
            if (contentType.StartsWith("image/", StringComparison.OrdinalIgnoreCase))
                call = InferenceApi.ParseImage(body, info, "request body", _router.InputShape);
            else
            {
                long? headerLength = null;
                if (ctx.Request.Headers.TryGetValue(InferenceApi.HeaderLengthHeader, out var h))
                    headerLength = long.TryParse(h.ToString(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var v) ? v
                        : throw new ApiException(400, $"{InferenceApi.HeaderLengthHeader} must be a byte count, got '{ModelRouter.Trim(h.ToString())}'");
                call = InferenceApi.ParseJson(body, headerLength, info, _router.InputName, _router.InputShape);
            }
            await _slots.WaitAsync(ctx.RequestAborted);
            try
            {
                byte[] response;
                int? responseHeaderLength;
                using (var lease = await _router.LeaseForAsync(task, ctx.RequestAborted))
                {
                    var view = lease.Model.Tasks[task];
                    if (view.Head is null) throw new ApiException(500, $"model '{task}' has no head (head.weight/head.bias or head.onnx) in its bundle file");
                    var output = TaskRunner.Outputs(lease.Model, task, call.Inputs, call.Shape);
                    string recipe = lease.Model.Recipe.ToString();
                    response = InferenceApi.Respond(task, call, view, output, recipe, lease.Model.Generation, out responseHeaderLength);
                    ctx.Response.Headers[GenerationHeader] = lease.Model.Generation; // the generation this answer was computed with
                    ctx.Response.Headers[RecipeHeader] = Uri.EscapeDataString(recipe);
                }
                if (responseHeaderLength is { } hl) ctx.Response.Headers[InferenceApi.HeaderLengthHeader] = hl.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Write(ctx, 200, response, responseHeaderLength is null ? "application/json" : "application/octet-stream");
            }
            finally { _slots.Release(); }
        }
        finally
        {
            Interlocked.Decrement(ref _admitted);
            Metrics.LeaveInference();
        }
    }

    private async Task<byte[]> ReadBody(HttpContext ctx)
    {
        long max = _settings.MaxBodyBytes;
        if (ctx.Request.ContentLength is { } declared && declared > max)
            throw new ApiException(413, $"the request body is {declared} bytes, over the limit of {max} bytes (--max-body-bytes)");
        var buffer = new MemoryStream(ctx.Request.ContentLength is { } n ? (int)n : 4096);
        var chunk = new byte[81920];
        int read;
        while ((read = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + read > max)
                throw new ApiException(413, $"the request body is over the limit of {max} bytes (--max-body-bytes)");
            buffer.Write(chunk, 0, read);
        }
        return buffer.Length == buffer.Capacity ? buffer.GetBuffer() : buffer.ToArray();
    }

    private async Task Metadata(HttpContext ctx, string task)
    {
        var info = _router.Find(task);
        long classes = info.Classes ?? -1;
        var input = InferenceApi.InputShapeFor(info, _router.InputShape);
        string recipe = _router.LiveRecipe();
        var meta = new ModelMetadataJson
        {
            Name = task,
            Versions = [_router.BundleGeneration],
            Platform = "onnxruntime_onnx",
            Inputs = [new TensorMetadataJson { Name = _router.InputName, Datatype = "FP32", Shape = [.. input] }],
            Outputs = info.Kind switch
            {
                TaskKind.Classification =>
                [
                    new TensorMetadataJson { Name = InferenceApi.Logits, Datatype = "FP32", Shape = [-1, classes] },
                    new TensorMetadataJson { Name = InferenceApi.Probabilities, Datatype = "FP32", Shape = [-1, classes] },
                    new TensorMetadataJson { Name = InferenceApi.TopIndex, Datatype = "INT64", Shape = [-1, -1] },
                    new TensorMetadataJson { Name = InferenceApi.TopProbability, Datatype = "FP32", Shape = [-1, -1] },
                    new TensorMetadataJson { Name = InferenceApi.TopLabel, Datatype = "BYTES", Shape = [-1, -1] },
                ],
                TaskKind.Segmentation => [new TensorMetadataJson { Name = InferenceApi.Segmentation, Datatype = "INT32", Shape = [-1, -1, -1] }],
                TaskKind.Depth => [new TensorMetadataJson { Name = InferenceApi.Depth, Datatype = "FP32", Shape = [-1, -1, -1] }],
                TaskKind.Normals => [new TensorMetadataJson { Name = InferenceApi.Normals, Datatype = "FP32", Shape = [-1, 3, -1, -1] }],
                _ => [new TensorMetadataJson { Name = InferenceApi.Output, Datatype = "FP32", Shape = [-1] }],
            },
            Parameters = new ModelParametersJson { Labels = info.Labels?.ToList(), Loaded = _router.Serves(task), Recipe = recipe, BundleGeneration = _router.BundleGeneration },
        };
        ctx.Response.Headers[RecipeHeader] = Uri.EscapeDataString(recipe);
        await WriteJson(ctx, 200, meta, OipJsonContext.Default.ModelMetadataJson);
    }

    private async Task Ready(HttpContext ctx, string task)
    {
        _router.Find(task);
        string recipe = _router.LiveRecipe();
        ctx.Response.Headers[RecipeHeader] = Uri.EscapeDataString(recipe);
        if (!_router.Serves(task))
            throw new ApiException(400, $"model '{task}' is not loaded (the live model is {recipe}); " +
                                        (_router.AutoSwitch ? "an inference request for it switches to it" : $"POST /v2/repository/models/{task}/load loads it"));
        await Write(ctx, 200, JsonSerializer.SerializeToUtf8Bytes(new RepositoryIndexEntryJson { Name = task, Version = _router.BundleGeneration, State = "READY" },
            OipJsonContext.Default.RepositoryIndexEntryJson), "application/json");
    }

    private async Task Index(HttpContext ctx)
    {
        // The index call is also how a client asks the service to pick up an update now.
        if (await ReloadAsync(ctx.RequestAborted) is { } refused) ctx.Response.Headers[ReloadRefusedHeader] = Uri.EscapeDataString(refused);
        ctx.Response.Headers[GenerationHeader] = _router.BundleGeneration;
        var body = await ReadBody(ctx);
        bool readyOnly = false;
        if (body.Length > 0)
        {
            try { readyOnly = JsonSerializer.Deserialize(body, OipJsonContext.Default.RepositoryIndexRequestJson)?.Ready ?? false; }
            catch (JsonException e) { throw new ApiException(400, $"malformed JSON index request: {e.Message}"); }
        }
        string recipe = _router.LiveRecipe();
        var rows = _router.TaskNames.Select(t => _router.Serves(t)
                ? new RepositoryIndexEntryJson { Name = t, Version = _router.BundleGeneration, State = "READY", Reason = "" }
                : new RepositoryIndexEntryJson { Name = t, Version = _router.BundleGeneration, State = "UNAVAILABLE", Reason = $"not in the live model ({recipe})" })
            .Where(r => !readyOnly || r.State == "READY").ToList();
        ctx.Response.Headers[RecipeHeader] = Uri.EscapeDataString(recipe);
        await WriteJson(ctx, 200, rows, OipJsonContext.Default.ListRepositoryIndexEntryJson);
    }

    /// <summary>
    /// Load: body {"parameters": {"recipe": RECIPE}} (or {"recipe": RECIPE}), RECIPE a recipe JSON object (docs/merging.md)
    /// or the name of a recipe in the bundle's manifest; no recipe: the task's per-task model as a request would switch.
    /// The recipe must serve the task named in the path.
    /// </summary>
    private async Task Load(HttpContext ctx, string task)
    {
        var body = await ReadBody(ctx);
        JsonElement? recipeElement = null;
        bool force = false;
        if (body.Length > 0)
        {
            JsonDocument doc;
            try { doc = JsonDocument.Parse(body); }
            catch (JsonException e) { throw new ApiException(400, $"malformed JSON load request: {e.Message}"); }
            using (doc)
            {
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new ApiException(400, "the load request must be a JSON object: {\"parameters\": {\"recipe\": {…}}}");
                if (doc.RootElement.TryGetProperty("recipe", out var r)) recipeElement = r.Clone();
                if (doc.RootElement.TryGetProperty("parameters", out var p))
                {
                    if (p.ValueKind != JsonValueKind.Object) throw new ApiException(400, "\"parameters\" of a load request must be an object");
                    if (p.TryGetProperty("recipe", out var pr)) recipeElement = pr.Clone();
                    if (p.TryGetProperty("force", out var f))
                        force = f.ValueKind is JsonValueKind.True or JsonValueKind.False ? f.GetBoolean() : throw new ApiException(400, "parameter \"force\" must be true or false");
                }
            }
        }
        var m = _router.Manifest;
        MergeRecipe recipe = recipeElement switch
        {
            null => ModelRouter.RecipeFor(task, LiveRecipeObject()),
            { ValueKind: JsonValueKind.String } name => m.Recipes is not null && m.Recipes.TryGetValue(name.GetString()!, out var named)
                ? named.ToRecipe(m, $"manifest.json, recipe '{name.GetString()}'", task)
                : throw new ApiException(400, $"the bundle has no recipe '{ModelRouter.Trim(name.GetString()!)}' ({(m.Recipes is { Count: > 0 } rs ? "it has: " + string.Join(", ", rs.Keys) : "it has none")})"),
            { ValueKind: JsonValueKind.Object } obj => RecipeDocument.Parse(Encoding.UTF8.GetBytes(obj.GetRawText()), "load request \"recipe\"").ToRecipe(m, "load request \"recipe\"", task),
            var other => throw new ApiException(400, $"\"recipe\" must be a recipe object or the name of a recipe in the bundle, got {other.Value.ValueKind.ToString().ToLowerInvariant()}"),
        };
        bool serves = recipe.Descriptor.ServesOneTask ? recipe.Task == task : recipe.SelectedTasks.Contains(task);
        if (!serves) throw new ApiException(400, $"the recipe ({recipe}) does not serve model '{task}'");
        var report = await _router.LoadAsync(recipe, force, ctx.RequestAborted);
        string live = _router.LiveRecipe();
        ctx.Response.Headers[RecipeHeader] = Uri.EscapeDataString(live);
        await WriteJson(ctx, 200, new LoadResponseJson
        {
            ModelName = task, Recipe = live, BundleGeneration = _router.BundleGeneration, Switched = report is not null,
            MergeMs = report?.Merge.TotalMilliseconds, SessionMs = report?.Session.TotalMilliseconds, TotalMs = report?.Total.TotalMilliseconds,
        }, OipJsonContext.Default.LoadResponseJson);
    }

    private ServerParametersJson? TelemetryJson()
    {
        if (_settings.Telemetry?.Read() is not { } t) return null;
        return new ServerParametersJson
        {
            ThermalZones = t.Thermal.Select(z => new ThermalZoneJson { Zone = z.Zone, Sensor = z.Sensor, Celsius = z.Celsius }).ToList(),
            PowerRails = t.Rails.Select(r => new PowerRailJson { Rail = r.Rail, Sensor = r.Sensor, Channel = r.Channel, Volts = r.Volts, Amperes = r.Amperes, Watts = r.Watts }).ToList(),
        };
    }

    private MergeRecipe LiveRecipeObject() => _router.LiveRecipeObject();

    private async Task Unload(HttpContext ctx, string task)
    {
        await ReadBody(ctx);
        string live = _router.LiveRecipe();
        ctx.Response.Headers[RecipeHeader] = Uri.EscapeDataString(live);
        if (_router.Serves(task))
            throw new ApiException(409, $"model '{task}' is part of the live model ({live}); the service always serves one model: load another model to replace it");
        await WriteJson(ctx, 200, new LoadResponseJson { ModelName = task, Recipe = live, BundleGeneration = _router.BundleGeneration, Switched = false },
            OipJsonContext.Default.LoadResponseJson);
    }

    private static string Version { get; } =
        typeof(HttpService).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0";

    private static Task Error(HttpContext ctx, int status, string message) =>
        WriteJson(ctx, status, new ErrorJson { Error = message }, OipJsonContext.Default.ErrorJson);

    private static Task WriteJson<T>(HttpContext ctx, int status, T value, JsonTypeInfo<T> type) =>
        Write(ctx, status, JsonSerializer.SerializeToUtf8Bytes(value, type), "application/json");

    private static async Task Write(HttpContext ctx, int status, byte[] body, string contentType)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = contentType;
        ctx.Response.ContentLength = body.Length;
        if (HttpMethods.IsHead(ctx.Request.Method)) return;
        await ctx.Response.Body.WriteAsync(body, ctx.RequestAborted);
    }
}
