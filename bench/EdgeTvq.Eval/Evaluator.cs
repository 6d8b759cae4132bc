using System.Diagnostics;
using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Merging;
using EdgeTvq.Runtime.Inference;
using EdgeTvq.Runtime.Input;
using EdgeTvq.Runtime.Serving;
using EdgeTvq.Runtime.Tasks;

namespace EdgeTvq.Eval;

/// <summary>A task's exported test set, preprocessed once into encoder-sized batches.</summary>
public sealed class TestSet
{
    public const int BatchSize = 250;

    public string Task { get; }
    public int Size { get; }
    public int Count { get; }
    public IReadOnlyList<(float[] Pixels, int Count)> Batches { get; }
    public int[] Labels { get; }

    public TestSet(ZooTask task, PreprocessingSpec preprocessing, int limit = int.MaxValue)
    {
        Task = task.Name;
        Size = preprocessing.FixedSize is { } fixedSize && fixedSize.H == fixedSize.W ? fixedSize.H
            : throw new InvalidDataException($"{task.Name}: the evaluation harness needs a square fixed input size in the zoo's preprocessing");
        var images = ImageFiles.Load(task.TestImages, limit);
        Labels = images.Select(i => i.Label ?? throw new InvalidDataException($"{task.TestImages}: image {i.Source} has no label (the labels idx file must sit beside it)")).ToArray();
        Count = images.Count;
        int pixels = Size * Size;
        var batches = new List<(float[], int)>();
        for (int start = 0; start < images.Count; start += BatchSize)
        {
            int n = Math.Min(BatchSize, images.Count - start);
            var batch = new float[n * pixels];
            for (int i = 0; i < n; i++) Preprocessor.Apply(preprocessing, images[start + i]).Data.CopyTo(batch.AsSpan(i * pixels, pixels));
            batches.Add((batch, n));
        }
        Batches = batches;
    }
}

/// <summary>A packed scheme: the bundle folder, its manifest, its inspect statistics and the tasks' heads.</summary>
public sealed record Pack(StorageScheme Scheme, string Dir, BundleManifest Manifest, PackStats Stats, IReadOnlyDictionary<string, LinearHead> Heads);

/// <summary>Runs the cells of one zoo: packs each scheme once (reused across methods and runs), merges through
/// <see cref="BundleMerger"/> on the runtime's <see cref="ModelHost"/>, classifies with ONNX Runtime.</summary>
public sealed class Evaluator
{
    private readonly Zoo _zoo;
    private readonly string _packRoot;
    private readonly InferenceOptions _inference;
    private readonly Dictionary<string, TestSet> _testSets = [];
    private readonly int _limit;
    private readonly string _outDir;

    public Evaluator(Zoo zoo, string outDir, int threads, int limit = int.MaxValue)
    {
        _zoo = zoo;
        _outDir = outDir;
        _packRoot = Path.Combine(outDir, "packs", $"{zoo.Name}-{zoo.Key[..8]}");
        _inference = new InferenceOptions { IntraOpThreads = threads };
        _limit = limit;
    }

    public Zoo Zoo => _zoo;
    public IReadOnlyList<string> TaskNames => _zoo.Tasks.Select(t => t.Name).ToList();

    private TestSet TestSetOf(ZooTask t)
    {
        if (!_testSets.TryGetValue(t.Name, out var s))
            _testSets[t.Name] = s = new TestSet(t, PreprocessingSpec.Parse(_zoo.Preprocessing), _limit);
        return s;
    }

    /// <summary>The scheme's bundle: packed now, or the one a previous run left (a bundle folder appears only complete).</summary>
    public Pack PackScheme(StorageScheme scheme, PackProgress? progress = null)
    {
        string dir = Path.Combine(_packRoot, scheme.Id);
        // The scheme's key beside the bundle: budget and sensitivity are not in the manifest.
        string keyFile = dir + ".key";
        if (!File.Exists(Path.Combine(dir, "manifest.json")) || !SameOptions(ManifestIO.Load(dir), scheme)
            || (scheme.Options.HasBudget && (!File.Exists(keyFile) || File.ReadAllText(keyFile) != scheme.Key)))
        {
            var options = scheme.Sensitive ? scheme.Options with { Sensitivity = Sensitivity(progress) } : scheme.Options;
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
            Directory.CreateDirectory(_packRoot);
            using var pre = new CheckpointTensorSource(_zoo.PretrainedCheckpoint);
            var sources = _zoo.Tasks.Select(t => (Task: t, Source: new CheckpointTensorSource(t.Checkpoint))).ToList();
            try
            {
                var tasks = sources.Select(s => new PackTask(s.Task.Name, s.Source, Metadata(s.Task))).ToList();
                BundlePacker.Pack(pre, tasks, options, dir, progress);
            }
            finally
            {
                foreach (var s in sources) s.Source.Dispose();
            }
            File.WriteAllText(keyFile, scheme.Key);
        }
        var m = ManifestIO.Load(dir);
        return new Pack(scheme, dir, m, Stats(scheme, dir), LoadHeads(dir, m));
    }

    /// <summary>
    /// The zoo's sensitivity weights (<see cref="SensitivityProbe"/>): Δloss per squared error of every tensor, probed
    /// at 2 bits on the validation split of every task through the FP32 bundle; measured once and kept as
    /// packs/&lt;zoo&gt;/sensitivity.json. Never sees a test image.
    /// </summary>
    private Dictionary<string, double> Sensitivity(PackProgress? progress)
    {
        string path = Path.Combine(_packRoot, "sensitivity.json");
        if (!File.Exists(path))
        {
            var fp32 = PackScheme(StorageScheme.Fp32, progress);
            var validation = new Dictionary<string, IReadOnlyList<InputImage>>(StringComparer.Ordinal);
            foreach (var t in _zoo.Tasks)
                validation[t.Name] = ImageFiles.Load(t.ValImages ?? throw new InvalidDataException(
                    $"{_zoo.Dir}: task '{t.Name}' has no validation split (files.val_images); rebuild the zoo (bench/zoo/README.md)"));
            using var host = new ModelHost(fp32.Dir, _zoo.EncoderOnnx, _inference);
            var result = SensitivityProbe.Measure(host, _zoo.EncoderOnnx, validation);
            File.WriteAllBytes(path + ".partial", SensitivityProbe.WeightsJson(result));
            File.Move(path + ".partial", path, overwrite: true);
        }
        return JsonSerializer.Deserialize<Dictionary<string, double>>(File.ReadAllText(path))!;
    }

    private JsonElement Metadata(ZooTask t) =>
        JsonDocument.Parse($"{{\"labels\": {JsonSerializer.Serialize(t.Labels)}, \"preprocessing\": {_zoo.Preprocessing.GetRawText()}}}").RootElement.Clone();

    internal static bool SameOptions(BundleManifest m, StorageScheme s)
    {
        var o = ManifestIO.OptionsOf(m);
        return o.Scheme == s.Options.Scheme && o.Bits == s.Options.Bits && o.BaseBits == s.Options.BaseBits && o.OffsetBits == s.Options.OffsetBits
               && o.ErrorCorrection == (s.Options.Scheme == Format.Scheme.Rtvq && s.Options.ErrorCorrection) && o.Mode == s.Options.Mode && o.Policy.Name == s.Options.Policy.Name;
    }

    internal static PackStats Stats(StorageScheme scheme, string dir)
    {
        var r = BundleInspector.Inspect(dir); // walks and checks every file
        double paperBits = scheme.PaperBits(r.TaskCount);
        var tasks = r.Tasks.Select(t => new PackTaskStats
        {
            Task = t.Name, FileBytes = t.FileBytes, PaperBits = paperBits, StoredBits = t.StoredBitsPerParameter,
            QuantizationError = t.QuantizationError ?? 0, SparsityBefore = t.SparsityBefore ?? 0, SparsityAfter = t.SparsityAfter ?? 0,
        }).ToList();
        return new PackStats
        {
            BundleBytes = r.TotalBytes, Float32Bytes = r.Float32Bytes, Parameters = r.Parameters, QuantizedParameters = r.QuantizedParameters,
            PaperBits = paperBits, StoredBits = tasks.Average(t => t.StoredBits), MeanQuantizationError = tasks.Average(t => t.QuantizationError), Tasks = tasks,
        };
    }

    /// <summary>Every task's head (its own tensors, stored unquantized in its task file).</summary>
    private static Dictionary<string, LinearHead> LoadHeads(string dir, BundleManifest m)
    {
        var mode = ManifestIO.OptionsOf(m).Mode;
        var heads = new Dictionary<string, LinearHead>();
        foreach (var task in m.Tasks)
        {
            using var own = new WeightSet();
            TaskDecoder.Walk(dir, m, task, step =>
            {
                if (step.Own is { } o) step.TaskRecord.DecodeTo(own.Add(o.Name, o.Shape), mode);
            });
            heads[task.Name] = LinearHead.From(own, task.Name) ?? throw new InvalidDataException($"{dir}: task '{task.Name}' has no head.weight/head.bias");
        }
        return heads;
    }

    /// <summary>
    /// Evaluates one method on one pack. <paramref name="step"/> reports models done / total. <paramref name="cross"/>
    /// applies to <see cref="MergingMethod.CrossTask"/> methods only.
    /// </summary>
    public CellResult Evaluate(Pack pack, MergingMethod method, bool cross, string key, Action<int, int>? step = null)
    {
        var clock = Stopwatch.StartNew();
        var names = TaskNames;
        var context = new MergeContext(names, pack.Manifest) { Zoo = _zoo, Scheme = pack.Scheme, BundleDir = pack.Dir, OutDir = _outDir };
        cross &= method.CrossTask;
        var cell = new CellResult
        {
            Key = key, Zoo = _zoo.Name, ZooKey = _zoo.Key, TaskCount = names.Count, Scheme = pack.Scheme.Id, SchemeLabel = pack.Scheme.Label,
            Method = method.Id, MethodLabel = method.Label, MethodSettings = method.Settings, Kind = method.Kind.ToString(), Pack = pack.Stats,
        };
        using var host = new ModelHost(pack.Dir, _zoo.EncoderOnnx, _inference);
        if (method.Kind == MethodKind.MultiTask)
        {
            step?.Invoke(0, 1);
            var recipe = method.Recipe(context, null);
            cell.RecipeSource = recipe.Source;
            host.Switch(recipe);
            using var lease = host.Acquire();
            foreach (var t in _zoo.Tasks) cell.Tasks.Add(Score(lease.Model, pack.Heads[t.Name], TestSetOf(t)));
            step?.Invoke(1, 1);
        }
        else
        {
            var matrix = cross ? new double[names.Count][] : null;
            for (int i = 0; i < names.Count; i++)
            {
                step?.Invoke(i, names.Count);
                host.Switch(method.Recipe(context, names[i]));
                using var lease = host.Acquire();
                if (matrix is null)
                {
                    cell.Tasks.Add(Score(lease.Model, pack.Heads[names[i]], TestSetOf(_zoo.Tasks[i])));
                    continue;
                }
                matrix[i] = new double[names.Count];
                for (int j = 0; j < names.Count; j++)
                {
                    var s = Score(lease.Model, pack.Heads[names[j]], TestSetOf(_zoo.Tasks[j]));
                    matrix[i][j] = s.Accuracy;
                    if (i == j) cell.Tasks.Add(s);
                }
            }
            step?.Invoke(names.Count, names.Count);
            if (matrix is not null)
            {
                cell.Cross = matrix;
                cell.TargetAverage = Enumerable.Range(0, names.Count).Average(i => matrix[i][i]);
                cell.CrossAverage = names.Count < 2 ? null
                    : Enumerable.Range(0, names.Count).SelectMany(i => Enumerable.Range(0, names.Count).Where(j => j != i).Select(j => matrix[i][j])).Average();
            }
        }
        cell.Average = cell.Tasks.Average(t => t.Accuracy);
        cell.Seconds = clock.Elapsed.TotalSeconds;
        cell.FinishedUtc = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ");
        return cell;
    }

    /// <summary>Top-1 accuracy of the live model's encoder followed by <paramref name="head"/> on a test set.</summary>
    private static TaskScore Score(LiveModel model, LinearHead head, TestSet set)
    {
        int correct = 0, offset = 0;
        foreach (var (pixels, n) in set.Batches)
        {
            var logits = head.Logits(model.Encode(pixels, n, set.Size), n);
            for (int i = 0; i < n; i++)
            {
                var row = logits.AsSpan(i * head.Classes, head.Classes);
                int best = 0;
                for (int c = 1; c < row.Length; c++) if (row[c] > row[best]) best = c;
                if (best == set.Labels[offset + i]) correct++;
            }
            offset += n;
        }
        return new TaskScore { Task = set.Task, Images = set.Count, Correct = correct, Accuracy = set.Count == 0 ? 0 : (double)correct / set.Count };
    }
}
