using System.Diagnostics;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Merging;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Hardening;

/// <summary>
/// Writers of one bundle exclude each other (two concurrent add-tasks used to both exit 0 and lose a task), an
/// add-task killed between its two renames is recovered by running it again, and kill -9 at any moment of add-task
/// leaves a bundle that verifies and is exactly the old or the new one.
/// </summary>
public class BundleWriterTests(Xunit.Abstractions.ITestOutputHelper log)
{
    private static Dictionary<string, byte[]> Files(string dir) =>
        Directory.EnumerateFiles(dir).ToDictionary(f => Path.GetFileName(f)!, File.ReadAllBytes);

    [Fact]
    public void Concurrent_add_tasks_both_land()
    {
        for (int round = 0; round < 4; round++)
        {
            using var dir = new TempDir();
            var (pre, tasks) = MemorySource.SmallModel(4, seed: 40 + round);
            BundlePacker.Pack(pre, tasks.Take(2).Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
            using var start = new Barrier(2);
            var adds = new[] { "x", "y" }.Select((name, i) => Task.Run(() =>
            {
                start.SignalAndWait();
                BundlePacker.AddTask(dir["b"], pre, new PackTask(name, tasks[2 + i]));
            })).ToArray();
            Task.WaitAll(adds);
            var m = ManifestIO.Load(dir["b"]);
            Assert.Equal(["t0", "t1", "x", "y"], m.Tasks.Select(t => t.Name).Order());
            var verify = BundleVerifier.Verify(dir["b"]);
            Assert.True(verify.Ok, string.Join("\n", verify.Problems));
            Assert.Empty(verify.Warnings);
        }
    }

    [Fact]
    public void A_writer_waits_for_the_lock_and_gives_up_with_a_clear_message()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 7);
        BundlePacker.Pack(pre, tasks.Take(2).Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        using (BundleWriteLock.Acquire(dir["b"], TimeSpan.Zero))
        {
            var e = Assert.Throws<IOException>(() => BundlePacker.AddTask(dir["b"], pre, new PackTask("x", tasks[2]), lockWait: TimeSpan.FromMilliseconds(200)));
            Assert.Contains("another edgetvq-pack command", e.Message);
        }
        BundlePacker.AddTask(dir["b"], pre, new PackTask("x", tasks[2]));
        Assert.Equal(3, ManifestIO.Load(dir["b"]).Tasks.Count);
    }

    [Theory]
    [InlineData("tvq")]
    [InlineData("rtvq")]
    public void An_add_task_killed_between_its_renames_is_recovered_by_running_it_again(string scheme)
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 8);
        var o = scheme == "rtvq" ? new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 } : new PackOptions { Bits = 4 };
        BundlePacker.Pack(pre, tasks.Take(2).Select((s, i) => new PackTask($"t{i}", s)).ToList(), o, dir["b"]);
        string manifest = Path.Combine(dir["b"], FormatConstants.ManifestFileName);
        byte[] oldManifest = File.ReadAllBytes(manifest);

        // The state a kill between the task file's rename and the manifest's rename leaves behind.
        BundlePacker.AddTask(dir["b"], pre, new PackTask("late", tasks[2]));
        File.WriteAllBytes(manifest, oldManifest);
        var verify = BundleVerifier.Verify(dir["b"]);
        Assert.True(verify.Ok);
        Assert.Contains(verify.Warnings, w => w.Contains("late.tvqt") && w.Contains("interrupted add-task") && w.Contains("run the same add-task again"));

        var entry = BundlePacker.AddTask(dir["b"], pre, new PackTask("late", tasks[2]));
        Assert.Equal("late", entry.Name);
        verify = BundleVerifier.Verify(dir["b"]);
        Assert.True(verify.Ok, string.Join("\n", verify.Problems));
        Assert.Empty(verify.Warnings);
        Assert.Equal(["t0", "t1", "late"], ManifestIO.Load(dir["b"]).Tasks.Select(t => t.Name));
    }

    [Fact]
    public void A_foreign_file_under_the_task_files_name_is_never_replaced()
    {
        using var dir = new TempDir();
        var (pre, tasks) = MemorySource.SmallModel(3, seed: 9);
        BundlePacker.Pack(pre, tasks.Take(2).Select((s, i) => new PackTask($"t{i}", s)).ToList(), new PackOptions { Bits = 4 }, dir["b"]);
        File.WriteAllText(dir["b/late.tvqt"], "my notes, not a task file");
        var e = Assert.Throws<IOException>(() => BundlePacker.AddTask(dir["b"], pre, new PackTask("late", tasks[2])));
        Assert.Contains("not a task file of this bundle", e.Message);
        Assert.Equal("my notes, not a task file", File.ReadAllText(dir["b/late.tvqt"]));

        // A task file of another bundle is not this bundle's leftover either.
        using var other = new TempDir();
        BundlePacker.Pack(pre, [new PackTask("late", tasks[2])], new PackOptions { Bits = 4 }, other["b"]);
        File.Copy(other["b/late.tvqt"], dir["b/late.tvqt"], overwrite: true);
        Assert.Throws<IOException>(() => BundlePacker.AddTask(dir["b"], pre, new PackTask("late", tasks[2])));
    }

    /// <summary>
    /// kill -9 of `edgetvq-pack add-task` at random moments (uniform over one uninterrupted run's duration): after each,
    /// the bundle verifies, its files are byte for byte the old bundle's plus at most the new task (listed, or an
    /// unlisted leftover that verify names), and running the add-task again completes it.
    /// </summary>
    [Fact]
    public void Kill_9_at_random_moments_of_add_task_leaves_the_old_or_the_new_bundle()
    {
        using var dir = new TempDir();
        var rng = new Random(1234);
        var shapes = new (string Name, long[] Shape)[] { ("blocks.0.w", [768, 768]), ("blocks.1.w", [768, 768]), ("blocks.0.b", [768]), ("head.w", [4, 768]) };
        (string, long[], float[])[] Model(float scale, int skip) => shapes.Skip(skip).Select(s =>
            (s.Name, s.Shape, Enumerable.Range(0, (int)s.Shape.Aggregate(1L, (a, b) => a * b)).Select(_ => (float)(rng.NextDouble() - 0.5) * scale).ToArray())).ToArray();
        var pre = Model(1f, 0).Where(t => t.Item1 != "head.w").ToArray();
        SafetensorsWriter.WriteFloat32(dir["pre.safetensors"], pre);
        for (int t = 0; t < 2; t++)
            SafetensorsWriter.WriteFloat32(dir[$"t{t}.safetensors"], pre.Select(p => (p.Item1, p.Item2, p.Item3.Select(v => v + (float)(rng.NextDouble() - 0.5) * 0.01f).ToArray())).Append(Model(1f, 3)[0]));
        Assert.Equal(0, EdgeTvq.Packer.Program.Main(["pack", "--pretrained", dir["pre.safetensors"], "--task", $"a={dir["t0.safetensors"]}",
            "--scheme", "rtvq", "--base-bits", "3", "--offset-bits", "2", "--out", dir["pristine"]]));
        var pristine = Files(dir["pristine"]);

        string trial = dir["trial"];
        void Reset()
        {
            if (Directory.Exists(trial)) Directory.Delete(trial, recursive: true);
            Directory.CreateDirectory(trial);
            foreach (var (name, bytes) in pristine) File.WriteAllBytes(Path.Combine(trial, name), bytes);
        }
        Process AddTask() => Process.Start(new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "edgetvq-pack"),
            ["add-task", "--bundle", trial, "--task", $"b={dir["t1.safetensors"]}", "--pretrained", dir["pre.safetensors"]])
        { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        int RunToEnd()
        {
            using var p = AddTask();
            p.StandardOutput.ReadToEnd();
            string err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            Assert.True(p.ExitCode == 0, err);
            return p.ExitCode;
        }

        // The kill moments are spread over the longest of two uninterrupted runs, and half as long again: under load
        // (other test assemblies run alongside) a run takes longer than when it was measured.
        double full = 0;
        for (int r = 0; r < 2; r++)
        {
            Reset();
            var clock = Stopwatch.StartNew();
            RunToEnd();
            full = Math.Max(full, clock.Elapsed.TotalMilliseconds);
        }
        var complete = Files(trial);
        Assert.Equal(pristine.Count + 1, complete.Count);

        int listedNew = 0, leftovers = 0;
        for (int i = 0; i < 50; i++)
        {
            Reset();
            int delay = (int)(rng.NextDouble() * full * 1.5);
            using (var p = AddTask())
            {
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                if (!p.WaitForExit(delay)) p.Kill(entireProcessTree: true); // SIGKILL
                p.WaitForExit();
            }
            var verify = BundleVerifier.Verify(trial);
            Assert.True(verify.Ok, $"trial {i} (kill after {delay} ms): {string.Join("; ", verify.Problems)}");
            var m = ManifestIO.Load(trial);
            var names = m.Tasks.Select(t => t.Name).ToList();
            var files = Files(trial);
            if (names.SequenceEqual(["a", "b"]))
            {
                listedNew++;
                foreach (var (name, bytes) in complete.Where(f => f.Key != "manifest.json" && f.Key != "b.tvqt"))
                    Assert.True(bytes.AsSpan().SequenceEqual(files[name]), $"trial {i}: {name} changed");
                Assert.DoesNotContain(files.Keys, f => f.EndsWith(".partial", StringComparison.Ordinal));
                continue;
            }
            Assert.Equal(["a"], names);
            foreach (var (name, bytes) in pristine)
                Assert.True(bytes.AsSpan().SequenceEqual(files[name]), $"trial {i}: {name} is not the old bundle's");
            foreach (var extra in files.Keys.Except(pristine.Keys))
                Assert.True(extra is "b.tvqt" or "b.tvqt.partial" or "manifest.json.partial", $"trial {i}: unexpected file {extra}");
            if (files.ContainsKey("b.tvqt"))
            {
                leftovers++;
                Assert.Contains(verify.Warnings, w => w.Contains("b.tvqt") && w.Contains("interrupted add-task"));
            }
            if (files.ContainsKey("b.tvqt") || i % 10 == 0)
            {
                RunToEnd(); // the same add-task again completes the update
                var again = BundleVerifier.Verify(trial);
                Assert.True(again.Ok, string.Join("; ", again.Problems));
                Assert.Equal(["a", "b"], ManifestIO.Load(trial).Tasks.Select(t => t.Name));
            }
        }
        // Most kills interrupt the command; how many land after the commit point (the manifest's rename) depends on the
        // machine's load, so it is reported, not asserted.
        Assert.True(listedNew < 50, "no kill interrupted add-task");
        log.WriteLine($"kill -9 trials: 50, completed before the kill {listedNew}, leftover task file {leftovers}, full run {full:F0} ms");
    }
}
