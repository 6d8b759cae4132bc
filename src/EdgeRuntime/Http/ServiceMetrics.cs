using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Runtime.Http;

/// <summary>
/// The service's metrics in the Prometheus text exposition format (version 0.0.4), written by hand: a few counters
/// and cumulative histograms with fixed buckets, lock-free on the request path. (prometheus-net 8.2.1 was tried: its AOT
/// analysis is clean, but its restore warns NU1603 on this feed, an error under the build's warnings-as-errors, and it
/// brings Microsoft.Extensions.Http 3.1; see README.) Per-model series only exist for the bundle's task names, so a
/// client inventing model names cannot grow them.
/// </summary>
public sealed class ServiceMetrics
{
    private static readonly double[] RequestBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] SwitchBuckets = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

    private readonly ConcurrentDictionary<(string Model, int Status), Counter> _requests = new();
    private readonly ConcurrentDictionary<string, Histogram> _latency = new();
    private readonly ConcurrentDictionary<string, Counter> _switches = new();
    private readonly Histogram _merge = new(SwitchBuckets), _session = new(SwitchBuckets), _switchTotal = new(SwitchBuckets);
    private readonly Counter _rejected = new();
    private long _inFlight;
    private readonly HashSet<string> _models;
    private volatile string _generation;
    private long _reloads, _reloadFailures;

    /// <summary>The bundle generation served (replaced when a new one is picked up).</summary>
    public string BundleGeneration { get => _generation; set => _generation = value; }

    /// <summary>Counts a pickup of a new generation (or a refused one).</summary>
    public void Reloaded(bool ok) => Interlocked.Increment(ref ok ? ref _reloads : ref _reloadFailures);

    public ServiceMetrics(IEnumerable<string> models, string bundleGeneration)
    {
        _models = new HashSet<string>(models, StringComparer.Ordinal);
        _generation = bundleGeneration;
    }

    /// <summary>The model label of a request: its task, or "" for a name that is not a task (or no model at all).</summary>
    public string ModelLabel(string? model) => model is not null && _models.Contains(model) ? model : "";

    public void Request(string? model, int status, double? inferSeconds)
    {
        string label = ModelLabel(model);
        _requests.GetOrAdd((label, status), _ => new Counter()).Add();
        if (inferSeconds is { } s && label != "") _latency.GetOrAdd(label, _ => new Histogram(RequestBuckets)).Observe(s);
    }

    public void Rejected() => _rejected.Add();
    public void EnterInference() => Interlocked.Increment(ref _inFlight);
    public void LeaveInference() => Interlocked.Decrement(ref _inFlight);

    public void Switched(SwitchReport report, string reason)
    {
        _switches.GetOrAdd(reason, _ => new Counter()).Add();
        _merge.Observe(report.Merge.TotalSeconds);
        _session.Observe(report.Session.TotalSeconds);
        _switchTotal.Observe(report.Total.TotalSeconds);
    }

    public string Render(string liveRecipe, EdgeTvq.Runtime.Device.TelemetrySnapshot? telemetry = null)
    {
        var w = new StringBuilder(4096);
        Header(w, "edgetvq_requests_total", "counter", "HTTP requests answered, by model (task; empty: none) and status code");
        foreach (var ((model, status), c) in _requests.OrderBy(e => e.Key.Model, StringComparer.Ordinal).ThenBy(e => e.Key.Status))
            w.Append("edgetvq_requests_total{model=\"").Append(Escape(model)).Append("\",code=\"").Append(status).Append("\"} ").Append(c.Value).Append('\n');
        Header(w, "edgetvq_inference_duration_seconds", "histogram", "time of successful inferences (lease, encoder, head), by model");
        foreach (var (model, h) in _latency.OrderBy(e => e.Key, StringComparer.Ordinal))
            h.Write(w, "edgetvq_inference_duration_seconds", $"model=\"{Escape(model)}\"");
        Header(w, "edgetvq_inferences_in_flight", "gauge", "inferences running or queued now");
        w.Append("edgetvq_inferences_in_flight ").Append(Interlocked.Read(ref _inFlight)).Append('\n');
        Header(w, "edgetvq_rejected_total", "counter", "inference requests refused with 503 because the queue was full");
        w.Append("edgetvq_rejected_total ").Append(_rejected.Value).Append('\n');
        Header(w, "edgetvq_switches_total", "counter", "model switches, by reason (start, load, auto)");
        foreach (var (reason, c) in _switches.OrderBy(e => e.Key, StringComparer.Ordinal))
            w.Append("edgetvq_switches_total{reason=\"").Append(Escape(reason)).Append("\"} ").Append(c.Value).Append('\n');
        Header(w, "edgetvq_switch_merge_seconds", "histogram", "merge part of a switch (streamed from storage)");
        _merge.Write(w, "edgetvq_switch_merge_seconds", null);
        Header(w, "edgetvq_switch_session_seconds", "histogram", "session part of a switch (bind, or session build)");
        _session.Write(w, "edgetvq_switch_session_seconds", null);
        Header(w, "edgetvq_switch_seconds", "histogram", "whole switch until the new model served");
        _switchTotal.Write(w, "edgetvq_switch_seconds", null);
        var (rss, peak) = ResidentMemory();
        Header(w, "edgetvq_resident_memory_bytes", "gauge", "resident set size (VmRSS of /proc/self/status)");
        w.Append("edgetvq_resident_memory_bytes ").Append(rss).Append('\n');
        Header(w, "edgetvq_resident_memory_peak_bytes", "gauge", "peak resident set size (VmHWM of /proc/self/status)");
        w.Append("edgetvq_resident_memory_peak_bytes ").Append(peak).Append('\n');
        Header(w, "edgetvq_bundle_info", "gauge", "the bundle generation served (first 16 hex digits of SHA-256 of manifest.json)");
        w.Append("edgetvq_bundle_info{generation=\"").Append(Escape(_generation)).Append("\"} 1\n");
        w.Append("# HELP edgetvq_bundle_reloads_total New bundle generations picked up without a restart (result=refused: rejected, old one kept).\n# TYPE edgetvq_bundle_reloads_total counter\n");
        w.Append("edgetvq_bundle_reloads_total{result=\"ok\"} ").Append(Interlocked.Read(ref _reloads)).Append('\n');
        w.Append("edgetvq_bundle_reloads_total{result=\"refused\"} ").Append(Interlocked.Read(ref _reloadFailures)).Append('\n');
        Header(w, "edgetvq_model_info", "gauge", "the live model's recipe");
        w.Append("edgetvq_model_info{recipe=\"").Append(Escape(liveRecipe)).Append("\"} 1\n");
        if (telemetry is not null) WriteTelemetry(w, telemetry);
        return w.ToString();
    }

    /// <summary>serve --telemetry's gauges, in base units (docs/runtime.md, "Telemetry and GPIO").</summary>
    private static void WriteTelemetry(StringBuilder w, EdgeTvq.Runtime.Device.TelemetrySnapshot t)
    {
        Header(w, "edgetvq_thermal_zone_celsius", "gauge", "temperature of a thermal zone (zone: its type; sensor: its sysfs folder)");
        foreach (var z in t.Thermal)
            w.Append("edgetvq_thermal_zone_celsius{zone=\"").Append(Escape(z.Zone)).Append("\",sensor=\"").Append(Escape(z.Sensor)).Append("\"} ").Append(Number(z.Celsius)).Append('\n');
        Rails(w, t, "edgetvq_rail_voltage_volts", "bus voltage of an INA3221 power rail", r => r.Volts);
        Rails(w, t, "edgetvq_rail_current_amperes", "current of an INA3221 power rail", r => r.Amperes);
        Rails(w, t, "edgetvq_rail_power_watts", "power of an INA3221 power rail (the driver's, else voltage × current)", r => r.Watts);

        static void Rails(StringBuilder w, EdgeTvq.Runtime.Device.TelemetrySnapshot t, string name, string help, Func<EdgeTvq.Runtime.Device.RailReading, double?> value)
        {
            Header(w, name, "gauge", help + " (rail: its label; sensor: the hwmon folder; channel: 1-3)");
            foreach (var r in t.Rails)
                if (value(r) is { } v)
                    w.Append(name).Append("{rail=\"").Append(Escape(r.Rail)).Append("\",sensor=\"").Append(Escape(r.Sensor)).Append("\",channel=\"").Append(r.Channel).Append("\"} ").Append(Number(v)).Append('\n');
        }
    }

    /// <summary>VmRSS and VmHWM in bytes from /proc/self/status (0 where the file or line is missing).</summary>
    public static (long Rss, long Peak) ResidentMemory()
    {
        long rss = 0, peak = 0;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal)) rss = Kilobytes(line) * 1024;
                else if (line.StartsWith("VmHWM:", StringComparison.Ordinal)) peak = Kilobytes(line) * 1024;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return (rss, peak);

        static long Kilobytes(string line) =>
            long.TryParse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;
    }

    private static void Header(StringBuilder w, string name, string type, string help) =>
        w.Append("# HELP ").Append(name).Append(' ').Append(help).Append("\n# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    /// <summary>A label value as the text format wants it: backslash, double quote and line feed escaped.</summary>
    internal static string Escape(string s) => s.Replace("\\", @"\\").Replace("\"", "\\\"").Replace("\n", @"\n");

    internal static string Number(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : v.ToString("R", CultureInfo.InvariantCulture);

    private sealed class Counter
    {
        private long _value;
        public long Value => Interlocked.Read(ref _value);
        public void Add() => Interlocked.Increment(ref _value);
    }

    /// <summary>A cumulative histogram: per-bucket counts (upper bounds inclusive), the sum and the count.</summary>
    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private readonly Lock _sumLock = new();
        private double _sum;

        public void Observe(double v)
        {
            int i = 0;
            while (i < bounds.Length && v > bounds[i]) i++;
            Interlocked.Increment(ref _counts[i]);
            lock (_sumLock) _sum += v;
        }

        public void Write(StringBuilder w, string name, string? labels)
        {
            string prefix = labels is null ? "" : labels + ",";
            long cumulative = 0;
            for (int i = 0; i <= bounds.Length; i++)
            {
                cumulative += Interlocked.Read(ref _counts[i]);
                string le = i < bounds.Length ? Number(bounds[i]) : "+Inf";
                w.Append(name).Append("_bucket{").Append(prefix).Append("le=\"").Append(le).Append("\"} ").Append(cumulative).Append('\n');
            }
            double sum;
            lock (_sumLock) sum = _sum;
            string braces = labels is null ? "" : "{" + labels + "}";
            w.Append(name).Append("_sum").Append(braces).Append(' ').Append(Number(sum)).Append('\n');
            w.Append(name).Append("_count").Append(braces).Append(' ').Append(cumulative).Append('\n');
        }
    }
}
