using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace EdgeTvq.Fuzz.Mutation;

/// <summary>
/// Structure-aware JSON mutation: parse, change one node (null, wrong type, huge or non-finite-looking number, deep
/// nesting, dropped/duplicated member, empty array, …), serialize again (indented, as the project's writers do).
/// Inputs that are not JSON fall back to byte mutation.
/// </summary>
public static class Json
{
    /// <summary>Deep enough for a seed after several rounds of the 1,000-level nesting mutation.</summary>
    private const int MaxDepth = 8192;

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, MaxDepth = MaxDepth };

    public static byte[] Mutate(byte[] input, Random rng)
    {
        JsonNode? root = TryParse(input);
        if (root is null) return Bytes.Mutate(input, rng);
        root = MutateTree(root, rng);
        return Serialize(root);
    }

    /// <summary>The JSON tree of <paramref name="input"/>, fully materialized, or null when it is not (valid UTF-8) JSON.</summary>
    public static JsonNode? TryParse(byte[] input)
    {
        try
        {
            var root = JsonNode.Parse(input, documentOptions: new JsonDocumentOptions { MaxDepth = MaxDepth });
            // JsonNode is lazy: invalid UTF-8 in names or strings only shows up when they are read.
            var all = new List<JsonNode?>();
            if (root is not null) Collect(root, all);
            foreach (var n in all)
                if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String) _ = v.GetValue<string>();
            return root;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException) { return null; }
    }

    public static byte[] Serialize(JsonNode? root) =>
        root is null ? "null"u8.ToArray() : Encoding.UTF8.GetBytes(root.ToJsonString(Indented));

    /// <summary>Mutates one node chosen uniformly among all nodes; returns the (possibly replaced) root.</summary>
    public static JsonNode? MutateTree(JsonNode root, Random rng)
    {
        var all = new List<JsonNode?>();
        Collect(root, all);
        JsonNode? target = all[rng.Next(all.Count)];
        if (target is null) return root;
        JsonNode? replacement = MutateNode(target, rng, out bool inPlace);
        if (inPlace) return root;
        if (target.Parent is null) return replacement;
        Replace(target, replacement);
        return root;
    }

    private static void Collect(JsonNode? n, List<JsonNode?> all)
    {
        all.Add(n);
        switch (n)
        {
            case JsonObject o: foreach (var kv in o) if (kv.Value is not null) Collect(kv.Value, all); break;
            case JsonArray a: foreach (var x in a) if (x is not null) Collect(x, all); break;
        }
    }

    private static void Replace(JsonNode target, JsonNode? replacement)
    {
        switch (target.Parent)
        {
            case JsonObject o:
                {
                    string key = o.First(kv => ReferenceEquals(kv.Value, target)).Key;
                    o[key] = replacement;
                    break;
                }
            case JsonArray a:
                {
                    int i = a.IndexOf(target);
                    a[i] = replacement;
                    break;
                }
        }
    }

    private static readonly string[] Strings =
    [
        "", "NaN", "Infinity", "-Infinity", "1e999", "-0", "null", "\u0000", "../../etc/passwd", "/dev/zero", "a/b", "A",
        "ÿ", "\ud7ff", "fq", "tvq", "rtvq", "default", "reference", "quantized", "full", "skipped", "__metadata__",
        "task_arithmetic", "ties", "emr", "individual", "lines", "dare", "tsv_merge", "t0", "T0", new string('x', 70), new string('a', 5000),
    ];

    private static readonly string[] Numbers =
    [
        "0", "-1", "1", "2147483647", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
        "1e39", "-1e39", "3.5e38", "-3.5e38", "1e50", "1e308", "1e309", "-1e309", "5e-324", "1e-45", "0.5", "3.4028235e38", "3.5e38", "123456789012345678901234567890",
        "1.0", "-0.0", "8", "9", "256",
    ];

    /// <summary>A JSON number literal for <paramref name="d"/>; beyond double it is written as ±1e400 (JSON has no infinity).</summary>
    private static string NumberText(double d) =>
        double.IsFinite(d) ? d.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : d > 0 ? "1e400" : "-1e400";

    private const string InsertChars = "/.\\:_-A0é\u00ff\u0000";

    /// <summary>The replacement for <paramref name="n"/>; <paramref name="inPlace"/> when <paramref name="n"/> itself was edited.</summary>
    private static JsonNode? MutateNode(JsonNode n, Random rng, out bool inPlace)
    {
        inPlace = false;
        switch (rng.Next(12))
        {
            case 0: return null;
            case 1: return JsonValue.Create(Strings[rng.Next(Strings.Length)]);
            case 2: return JsonNode.Parse(Numbers[rng.Next(Numbers.Length)]);
            case 3: return new JsonArray();
            case 4: return new JsonObject();
            case 5: return JsonValue.Create(rng.Next(2) == 0);
            case 6: // deep nesting
                {
                    int depth = rng.Next(2) == 0 ? 70 : 1000;
                    string open = rng.Next(2) == 0 ? "[" : "{\"a\":", close = open == "[" ? "]" : "}";
                    return JsonNode.Parse(string.Concat(Enumerable.Repeat(open, depth)) + "1" + string.Concat(Enumerable.Repeat(close, depth)),
                        documentOptions: new JsonDocumentOptions { MaxDepth = 2000 });
                }
            case 7: // wrap in an array
                return new JsonArray(n.DeepClone());
        }
        inPlace = true;
        switch (n)
        {
            case JsonObject o when o.Count > 0:
                {
                    var keys = o.Select(kv => kv.Key).ToList();
                    string key = keys[rng.Next(keys.Count)];
                    switch (rng.Next(4))
                    {
                        case 0: o.Remove(key); break; // drop a member
                        case 1: o[key + (rng.Next(2) == 0 ? "" : "_")] = o[key]?.DeepClone(); // same key again is a no-op; near-duplicate
                            o[Strings[rng.Next(Strings.Length)] is { Length: > 0 } s ? s : "x"] = o[key]?.DeepClone(); break;
                        case 2: o[key] = null; break;
                        default: // move the member to the end
                            var v = o[key]?.DeepClone(); o.Remove(key); o[key] = v; break;
                    }
                    return n;
                }
            case JsonArray a when a.Count > 0:
                switch (rng.Next(4))
                {
                    case 0: a.RemoveAt(rng.Next(a.Count)); break;
                    case 1: { int i = rng.Next(a.Count); a.Insert(i, a[i]?.DeepClone()); break; } // duplicate an element
                    case 2: a.Add(null); break;
                    default: { int i = rng.Next(a.Count), j = rng.Next(a.Count); var x = a[i]?.DeepClone(); a[i] = a[j]?.DeepClone(); a[j] = x; break; }
                }
                return n;
            case JsonValue v when v.TryGetValue(out string? s) && s is not null:
                {
                    var chars = s.ToCharArray().ToList();
                    if (chars.Count > 0 && rng.Next(2) == 0) chars[rng.Next(chars.Count)] = (char)rng.Next(0x20, 0x7f);
                    else chars.Insert(rng.Next(chars.Count + 1), InsertChars[rng.Next(InsertChars.Length)]);
                    Replace(n, JsonValue.Create(new string(chars.ToArray())));
                    return n;
                }
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                {
                    // A literal beyond double ("1e400") reads as no double at all: treat it as the largest one.
                    double d = v.TryGetValue(out double parsed) ? parsed : double.MaxValue;
                    string text = rng.Next(4) switch
                    {
                        3 => NumberText(d == 0 ? 1e39 : d * 1e39), // beyond float32
                        0 => NumberText(d + rng.Next(-2, 3)),
                        1 => NumberText(-d),
                        _ => Bytes.InterestingValue(rng).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    };
                    Replace(n, JsonNode.Parse(text));
                    return n;
                }
        }
        inPlace = false;
        return JsonNode.Parse(Numbers[rng.Next(Numbers.Length)]);
    }
}
