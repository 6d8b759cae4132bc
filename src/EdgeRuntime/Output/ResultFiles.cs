using System.Text.Json;
using EdgeTvq.Runtime.Serving;

namespace EdgeTvq.Runtime.Output;

/// <summary>
/// <c>edgetvq run --output DIR</c>: one set of files per input, named after it (docs/runtime.md, "Outputs"):
/// classification <c>NAME.json</c>; segmentation <c>NAME.seg.npy</c> (int32 H×W) and <c>NAME.seg.png</c>; depth
/// <c>NAME.depth.npy</c> (float32 H×W) and <c>NAME.depth.png</c>; normals <c>NAME.normal.npy</c> (float32 3×H×W) and
/// <c>NAME.normal.png</c>; tensor <c>NAME.out.npy</c>. Every file is written under a temporary name and renamed.
/// </summary>
public static class ResultFiles
{
    /// <summary>Writes <paramref name="results"/> into <paramref name="dir"/> (created if missing); returns the files written.</summary>
    public static List<string> Write(string dir, IReadOnlyList<TaskResult> results)
    {
        Directory.CreateDirectory(dir);
        var written = new List<string>();
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var r in results)
        {
            string name = UniqueName(StemOf(r.Input), used);
            string P(string suffix)
            {
                string path = Path.Combine(dir, name + suffix);
                written.Add(path);
                return path;
            }
            if (r.Top is not null)
            {
                LocalWrite(P(".json"), JsonSerializer.SerializeToUtf8Bytes(r, ResultJsonContext.Default.TaskResult));
            }
            else if (r.Map is { Classes: { } classes } seg)
            {
                NpyFile.Write(P(".seg.npy"), classes, [seg.Height, seg.Width]);
                var rgb = new byte[classes.Length * 3];
                ColorMaps.ColorizeClasses(classes, rgb);
                PngFile.WriteRgb(P(".seg.png"), rgb, seg.Width, seg.Height);
            }
            else if (r.Map is { Values: { } values } map && map.Channels == 1)
            {
                NpyFile.Write(P(".depth.npy"), values, [map.Height, map.Width]);
                var rgb = new byte[values.Length * 3];
                ColorMaps.DepthToRgb(values, rgb);
                PngFile.WriteRgb(P(".depth.png"), rgb, map.Width, map.Height);
            }
            else if (r.Map is { Values: { } normals } n)
            {
                NpyFile.Write(P(".normal.npy"), normals, [n.Channels, n.Height, n.Width]);
                var rgb = new byte[n.Height * n.Width * 3];
                ColorMaps.NormalsToRgb(normals, n.Height, n.Width, rgb);
                PngFile.WriteRgb(P(".normal.png"), rgb, n.Width, n.Height);
            }
            else if (r.Raw is { } raw)
            {
                NpyFile.Write(P(".out.npy"), raw, r.RawShape!.Select(d => checked((int)d)).ToArray());
            }
        }
        return written;
    }

    /// <summary>An input's name for its files: the file name without extension, idx items as NAME_INDEX, unsafe characters as '_'.</summary>
    public static string StemOf(string input)
    {
        string name = Path.GetFileName(input);
        int hash = name.LastIndexOf('#');
        string stem = hash >= 0 ? Path.GetFileNameWithoutExtension(name[..hash]) + "_" + name[(hash + 1)..] : Path.GetFileNameWithoutExtension(name);
        var chars = stem.Select(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.' ? c : '_').ToArray();
        string safe = new string(chars).TrimStart('.');
        return safe.Length == 0 ? "input" : safe;
    }

    private static string UniqueName(string stem, HashSet<string> used)
    {
        string name = stem;
        for (int i = 2; !used.Add(name); i++) name = $"{stem}_{i}";
        return name;
    }

    private static void LocalWrite(string path, byte[] bytes)
    {
        string partial = path + ".partial";
        File.WriteAllBytes(partial, bytes);
        File.Move(partial, path, overwrite: true);
    }
}

[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[System.Text.Json.Serialization.JsonSerializable(typeof(TaskResult))]
internal sealed partial class ResultJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
