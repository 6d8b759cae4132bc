using System.Text.Json;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Runtime.Tests.Aot;
using EdgeTvq.TestSupport;
using Xunit.Abstractions;

namespace EdgeTvq.Runtime.Tests.Zoo;

[CollectionDefinition(Name)]
public sealed class ZooBundleCollection : ICollectionFixture<ZooBundle>
{
    public const string Name = "quick zoo packed as RTVQ B3O2";
}

/// <summary>The quick zoo (built by ./build.sh test) packed once as RTVQ B3O2 with its labels and preprocessing.</summary>
public sealed class ZooBundle : IDisposable
{
    public ZooFixture Zoo { get; } = new();
    public string Dir { get; } = Path.Combine(Path.GetTempPath(), "edgetvq-zoo-bundle-" + Guid.NewGuid().ToString("N")[..10]);
    public string Bundle => Path.Combine(Dir, "bundle");
    public string Model => Zoo.File_("encoder_onnx");
    /// <summary>A trust folder holding the public key the bundle is signed with (the device's strict default at work).</summary>
    public string TrustDir => Path.Combine(Dir, "keys");
    public string KeyId { get; }

    public ZooBundle()
    {
        Directory.CreateDirectory(Dir);
        using var pre = new CheckpointTensorSource(Zoo.File_("pretrained_pt"));
        var sources = Zoo.Tasks.Select(t => (t.Name, Source: new CheckpointTensorSource(t.Pt), t.Labels)).ToList();
        try
        {
            var preprocessing = Zoo.Manifest.GetProperty("preprocessing");
            var tasks = sources.Select(s =>
            {
                var meta = JsonDocument.Parse($"{{\"labels\": {JsonSerializer.Serialize(s.Labels)}, \"preprocessing\": {preprocessing.GetRawText()}}}").RootElement;
                return new PackTask(s.Name, s.Source, meta);
            }).ToList();
            BundlePacker.Pack(pre, tasks, new PackOptions { Scheme = Scheme.Rtvq, BaseBits = 3, OffsetBits = 2 }, Bundle);
            var (priv, pub, id) = BundleSigning.CreateKey();
            KeyId = id;
            Directory.CreateDirectory(TrustDir);
            File.WriteAllText(Path.Combine(TrustDir, "test.pub.pem"), pub);
            using var key = System.Security.Cryptography.ECDsa.Create();
            key.ImportFromPem(priv);
            BundleSigning.SignBundle(Bundle, key);
        }
        finally
        {
            foreach (var s in sources) s.Source.Dispose();
        }
    }

    public void Dispose()
    {
        try { Directory.Delete(Dir, recursive: true); } catch (IOException) { }
    }
}

/// <summary>`edgetvq run` classifies real zoo images: in-process, as the x64 native binary, and under qemu as the arm64 one.</summary>
[Collection(ZooBundleCollection.Name)]
public class ZooRuntimeTests(ZooBundle zb, ITestOutputHelper log)
{
    private static (int Code, string Out, string Err) InProcess(params string[] args) => InProcessWithInput("", args);

    /// <summary>
    /// Runs edgetvq in this process. run/serve without a trust option get --allow-unsigned: most tests work on copies of
    /// the bundle they change (recipes, damage), which no longer match its signature; RunArgs uses the signed bundle.
    /// </summary>
    private static (int Code, string Out, string Err) InProcessWithInput(string stdin, params string[] args)
    {
        if (args.Length > 0 && args[0] is "run" or "serve" && !args.Contains("--trust-dir") && !args.Contains("--allow-unsigned")) args = [.. args, "--allow-unsigned"];
        lock (typeof(Console))
        {
            var (oldIn, oldOut, oldErr) = (Console.In, Console.Out, Console.Error);
            var (o, e) = (new StringWriter(), new StringWriter());
            Console.SetIn(new StringReader(stdin));
            Console.SetOut(o);
            Console.SetError(e);
            try { return (EdgeTvq.Runtime.Program.Main(args), o.ToString(), e.ToString()); }
            finally { Console.SetIn(oldIn); Console.SetOut(oldOut); Console.SetError(oldErr); }
        }
    }

    private string[] RunArgs(string task, int limit, params string[] extra) =>
        ["run", "--bundle", zb.Bundle, "--model", zb.Model, "--trust-dir", zb.TrustDir, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", limit.ToString(), "--json", .. extra];

    private static (double Accuracy, int[] Top1, double[] P1) Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        var preds = doc.RootElement.GetProperty("predictions").EnumerateArray().ToList();
        return (doc.RootElement.GetProperty("accuracy").GetDouble(),
            preds.Select(p => p.GetProperty("top")[0].GetProperty("index").GetInt32()).ToArray(),
            preds.Select(p => p.GetProperty("top")[0].GetProperty("probability").GetDouble()).ToArray());
    }

    [Fact]
    public void Individual_models_classify_real_test_images_far_above_chance()
    {
        foreach (var (task, _, _, labels) in zb.Zoo.Tasks)
        {
            var (code, output, err) = InProcess(RunArgs(task, 200));
            Assert.True(code == 0, err);
            var (accuracy, _, _) = Parse(output);
            Assert.True(accuracy > 2.0 / labels.Length, $"{task}: accuracy {accuracy:P1} is not clearly above chance ({1.0 / labels.Length:P0})");
        }
    }

    [Fact]
    public void Task_arithmetic_and_both_session_modes_run_and_agree()
    {
        var task = zb.Zoo.Tasks.First().Name;
        var (c1, inputs, e1) = InProcess(RunArgs(task, 100, "--merge", "ta", "--mode", "inputs"));
        var (c2, embedded, e2) = InProcess(RunArgs(task, 100, "--merge", "ta", "--mode", "embedded"));
        Assert.True(c1 == 0, e1);
        Assert.True(c2 == 0, e2);
        var (a, topA, pA) = Parse(inputs);
        var (b, topB, pB) = Parse(embedded);
        Assert.Equal(topA, topB);
        Assert.True(pA.Zip(pB, (x, y) => Math.Abs(x - y)).Max() < 1e-4);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Lines_merge_runs_on_the_device_path_and_differs_from_task_arithmetic()
    {
        var task = zb.Zoo.Tasks.First().Name;
        var (c1, lines, e1) = InProcess(RunArgs(task, 100, "--merge", "lines", "--beta", "0.5"));
        var (c2, ta, e2) = InProcess(RunArgs(task, 100, "--merge", "ta"));
        Assert.True(c1 == 0, e1);
        Assert.True(c2 == 0, e2);
        using var doc = JsonDocument.Parse(lines);
        Assert.StartsWith("LiNeS (", doc.RootElement.GetProperty("recipe").GetString());
        Assert.NotEqual(Parse(lines).P1, Parse(ta).P1);
    }

    /// <summary>
    /// Every merging method runs from the bundle on the device path (RTVQ B3O2 of the quick zoo, all 8 tasks) and
    /// classifies a task's real test images above chance. Not a claim about which method is better: 200 images of
    /// one small zoo.
    /// </summary>
    [Theory]
    [InlineData("ties")]
    [InlineData("ties_dis_sum")]
    [InlineData("magmax")]
    [InlineData("breadcrumbs")]
    [InlineData("consensus")]
    [InlineData("dare")]
    [InlineData("dare_ties")]
    [InlineData("emr")]
    [InlineData("tsv_merge")]
    [InlineData("tsv_compress")]
    [InlineData("task_arithmetic")]
    [InlineData("lines")]
    public void Every_merging_method_runs_from_the_bundle_and_classifies_above_chance(string method)
    {
        foreach (var (task, _, _, labels) in zb.Zoo.Tasks.Take(2))
        {
            var (code, output, err) = InProcess(RunArgs(task, 200, "--merge", method));
            Assert.True(code == 0, err);
            var (accuracy, _, _) = Parse(output);
            using var doc = JsonDocument.Parse(output);
            log.WriteLine($"{method} on {task}: {accuracy:P1} ({doc.RootElement.GetProperty("recipe").GetString()})");
            Assert.True(accuracy > 1.0 / labels.Length, $"{method} on {task}: accuracy {accuracy:P1} is not above chance ({1.0 / labels.Length:P0})");
        }
    }

    [Fact]
    public void A_recipe_file_and_a_named_recipe_run_and_bad_ones_are_refused_with_file_and_field()
    {
        var task = zb.Zoo.Tasks.First().Name;
        string file = Path.Combine(zb.Dir, "ties-k30.json");
        File.WriteAllText(file, """{"method": "ties", "params": {"k": 0.3}, "source": "test"}""");
        var (c1, fromFile, e1) = InProcess(RunArgs(task, 100, "--recipe", file));
        Assert.True(c1 == 0, e1);
        using (var doc = JsonDocument.Parse(fromFile))
            Assert.StartsWith("TIES (", doc.RootElement.GetProperty("recipe").GetString());
        var (c2, fromFlags, e2) = InProcess(RunArgs(task, 100, "--merge", "ties", "--tasks", string.Join(",", zb.Zoo.Tasks.Select(t => t.Name))));
        Assert.True(c2 == 0, e2);
        Assert.NotEqual(Parse(fromFile).P1, Parse(fromFlags).P1); // k = 0.3 vs the default 0.2

        // The same recipe stored in (a copy of) the bundle's manifest under a name gives the same predictions.
        string copy = Path.Combine(zb.Dir, "with-recipes");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.EnumerateFiles(zb.Bundle)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)), overwrite: true);
        EdgeTvq.Merging.BundleRecipes.Set(copy, "ties30", EdgeTvq.Merging.RecipeDocument.Load(file), "ties-k30.json");
        var (c7, named, e7) = InProcess(["run", "--bundle", copy, "--model", zb.Model, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", "100", "--json", "--recipe", "ties30"]);
        Assert.True(c7 == 0, e7);
        Assert.Equal(Parse(fromFile).P1, Parse(named).P1);
        var (c8, listed, e8) = InProcess("info", copy);
        Assert.True(c8 == 0, e8);
        Assert.Contains("recipe ties30", listed);

        string bad = Path.Combine(zb.Dir, "bad.json");
        File.WriteAllText(bad, """{"method": "consensus", "params": {"k": 0}}""");
        var (c3, o3, e3) = InProcess(RunArgs(task, 10, "--recipe", bad));
        Assert.Equal(2, c3);
        Assert.Equal("", o3);
        Assert.Contains("bad.json: \"params.k\" is 0", e3);
        var (c4, _, e4) = InProcess(RunArgs(task, 10, "--recipe", "no-such-recipe"));
        Assert.Equal(2, c4);
        Assert.Contains("no recipe 'no-such-recipe'", e4);
        var (c5, _, e5) = InProcess(RunArgs(task, 10, "--merge", "ties", "--recipe", file));
        Assert.Equal(2, c5);
        Assert.Contains("exclude each other", e5);
        var (c6, info, e6) = InProcess("info", zb.Bundle, "--recipe", file, "--json");
        Assert.True(c6 == 0, e6);
        Assert.Contains("TIES (", info);

        // tsv_compress builds one task's model: the recipe or --task names it.
        string tsvc = Path.Combine(zb.Dir, "tsvc.json");
        File.WriteAllText(tsvc, """{"method": "tsv_compress"}""");
        var (c9, _, e9) = InProcess("info", zb.Bundle, "--recipe", tsvc);
        Assert.Equal(2, c9);
        Assert.Contains("tsvc.json: \"task\" is missing: tsv_compress builds the model of one task", e9);
        var (c10, info10, e10) = InProcess("info", zb.Bundle, "--recipe", tsvc, "--task", task);
        Assert.True(c10 == 0, e10);
        Assert.Contains($"recipe: TSV-Compress for {task} (", info10);
        var (c11, _, e11) = InProcess("serve", "--stdin", "--bundle", zb.Bundle, "--model", zb.Model, "--merge", "tsv_compress");
        Assert.Equal(2, c11);
        Assert.Contains("--merge tsv_compress builds one task's model: it needs --task", e11);
    }

    [Fact]
    public void Serve_switches_between_methods_and_recipes()
    {
        var names = zb.Zoo.Tasks.Select(t => t.Name).ToList();
        string file = Path.Combine(zb.Dir, "magmax.json");
        File.WriteAllText(file, """{"method": "magmax", "lambda": 0.4}""");
        string stdin = string.Join("\n",
            "use ties",
            $"classify {names[0]} {zb.Zoo.TestImages(names[0])}",
            $"use emr {names[1]}",
            $"classify {names[1]} {zb.Zoo.TestImages(names[1])}",
            $"classify {names[0]} {zb.Zoo.TestImages(names[0])}",
            $"use recipe {file}",
            "use dare 0.3",
            "use consensus",
            "use breadcrumbs",
            "use ties_dis_sum",
            "use tsv_merge 0.8",
            $"use tsv_compress {names[2]}",
            $"classify {names[0]} {zb.Zoo.TestImages(names[0])}",
            "use tsv_compress",
            "use bogus",
            "quit") + "\n";
        var (code, output, err) = InProcessWithInput(stdin, "serve", "--stdin", "--bundle", zb.Bundle, "--model", zb.Model, "--merge", "emr", "--task", names[0]);
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith($"switched to EMR for {names[0]} (", lines[0]);
        foreach (var start in new[] { "switched to TIES (", $"switched to EMR for {names[1]} (", "switched to MagMax (", "switched to DARE (", "switched to Consensus TA (", "switched to Breadcrumbs (",
                                      "switched to TSV-Merge (", $"switched to TSV-Compress for {names[2]} (" })
            Assert.Contains(lines, l => l.StartsWith(start) && l.Contains(" ms, total "));
        Assert.Contains(lines, l => l.Contains("disjoint sum"));
        // EMR builds one task's model: the other tasks' heads are not served with it.
        Assert.Contains(lines, l => l.StartsWith("error: ") && l.Contains($"task '{names[0]}' is not in the live model (EMR for {names[1]}"));
        Assert.Contains(lines, l => l.StartsWith("switched to TSV-Merge (") && l.Contains("α=0.8"));
        Assert.Contains(lines, l => l.StartsWith("error: ") && l.Contains($"task '{names[0]}' is not in the live model (TSV-Compress for {names[2]}"));
        Assert.Contains(lines, l => l.StartsWith("error: commands are:"));
    }

    [Theory]
    [InlineData("linux-arm64")]
    [InlineData(AotBinaries.Nano)]
    public void The_arm64_binary_under_qemu_predicts_exactly_what_the_x64_binary_predicts(string arm64)
    {
        var task = zb.Zoo.Tasks.First().Name;
        string[] args = RunArgs(task, 64);
        var x64 = AotBinaries.Run("linux-x64", args);
        Assert.True(x64.ExitCode == 0, x64.Stderr);
        var arm = AotBinaries.RunWithTimeout(arm64, TimeSpan.FromMinutes(5), args);
        Assert.True(arm.ExitCode == 0, arm.Stderr);
        var (accX, topX, pX) = Parse(x64.Stdout);
        var (accA, topA, pA) = Parse(arm.Stdout);
        Assert.Equal(topX, topA);
        Assert.Equal(accX, accA);
        Assert.True(pX.Zip(pA, (x, y) => Math.Abs(x - y)).Max() < 1e-4, "top-1 probabilities differ between x64 and arm64");
        Assert.True(accX > 0.5, $"accuracy {accX:P1}");
    }

    /// <summary>
    /// The HTTP service as a native binary — x64, and the arm64 and Nano builds under qemu — answers readiness and a PNG
    /// inference over TCP with the same top class, on the signed bundle in strict mode, and stops cleanly on SIGTERM.
    /// </summary>
    [Theory]
    [InlineData("linux-x64")]
    [InlineData("linux-arm64")]
    [InlineData(AotBinaries.Nano)]
    public async Task The_native_service_answers_over_http(string rid)
    {
        var task = zb.Zoo.Tasks.First().Name;
        string png = Path.Combine(zb.Dir, $"service-{rid}.png");
        var psi = new System.Diagnostics.ProcessStartInfo("/usr/bin/python3") { UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "fixtures", "idx_to_png.py"), zb.Zoo.TestImages(task), "3", png }) psi.ArgumentList.Add(arg);
        using (var p = System.Diagnostics.Process.Start(psi)!) { p.WaitForExit(); Assert.Equal(0, p.ExitCode); }
        int port;
        using (var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0)) { probe.Start(); port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port; }
        using var server = AotBinaries.Start(rid, "serve", "--bundle", zb.Bundle, "--model", zb.Model, "--trust-dir", zb.TrustDir, "--task", task,
            "--listen", $"http://127.0.0.1:{port}");
        var stderr = server.StandardError.ReadToEndAsync();
        var stdout = server.StandardOutput.ReadToEndAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5); // qemu start-up is slow
            while (true)
            {
                Assert.False(server.HasExited, $"{rid} serve exited with {(server.HasExited ? server.ExitCode : 0)}: {(server.HasExited ? await stderr : "")}");
                try
                {
                    if ((await http.GetAsync("/v2/health/ready")).IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) { }
                Assert.True(DateTime.UtcNow < deadline, $"{rid} serve did not become ready in 5 minutes");
                await Task.Delay(250);
            }
            var content = new ByteArrayContent(File.ReadAllBytes(png));
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("image/png");
            var response = await http.PostAsync($"/v2/models/{task}/infer", content);
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, body);
            using var doc = JsonDocument.Parse(body);
            var top = doc.RootElement.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "top_index").GetProperty("data")[0].GetInt32();
            var (c, fromPng, e) = InProcess("run", "--bundle", zb.Bundle, "--model", zb.Model, "--task", task, "--input", png, "--json");
            Assert.True(c == 0, e);
            using var reference = JsonDocument.Parse(fromPng);
            Assert.Equal(reference.RootElement.GetProperty("predictions")[0].GetProperty("top")[0].GetProperty("index").GetInt32(), top);
            log.WriteLine($"{rid}: ready, PNG classified as {top}; binary {new FileInfo(AotBinaries.Binary(rid)).Length:N0} bytes");
        }
        finally
        {
            if (!server.HasExited)
            {
                using (var kill = System.Diagnostics.Process.Start("pkill", ["-TERM", "-f", $"127.0.0.1:{port}"])) kill.WaitForExit();
                if (!server.WaitForExit(30_000)) server.Kill(entireProcessTree: true);
            }
            server.WaitForExit();
        }
        log.WriteLine((await stdout).Trim());
    }

    /// <summary>The file checks call .NET's System.Native shim; the native binaries (arm64 under qemu too) must resolve it.</summary>
    [Theory]
    [InlineData("linux-x64")]
    [InlineData("linux-arm64")]
    [InlineData(AotBinaries.Nano)]
    public void The_native_binaries_refuse_a_device_and_a_directory_as_input(string rid)
    {
        var task = zb.Zoo.Tasks.First().Name;
        string[] Args(string input) => ["run", "--bundle", zb.Bundle, "--model", zb.Model, "--trust-dir", zb.TrustDir, "--task", task, "--input", input];
        var (code, _, err) = AotBinaries.RunWithTimeout(rid, TimeSpan.FromMinutes(5), Args("/dev/zero"));
        Assert.Equal(1, code);
        Assert.Contains("/dev/zero is a character device, not a regular file", err);
        (code, _, err) = AotBinaries.RunWithTimeout(rid, TimeSpan.FromMinutes(5), Args(zb.Dir));
        Assert.Equal(1, code);
        Assert.Contains("is a directory", err);
    }

    [Fact]
    public void Serve_switches_tasks_on_request_reports_the_time_and_keeps_serving_after_an_error()
    {
        var names = zb.Zoo.Tasks.Select(t => t.Name).ToList();
        string stdin = string.Join("\n",
            $"use individual {names[1]}",
            $"classify {names[1]} {zb.Zoo.TestImages(names[1])}",
            "use individual no-such-task",
            "use ta 0.3",
            $"classify {names[0]} {zb.Zoo.TestImages(names[0])}",
            "quit") + "\n";
        var (code, output, err) = InProcessWithInput(stdin, "serve", "--stdin", "--bundle", zb.Bundle, "--model", zb.Model, "--task", names[0]);
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith($"switched to individual {names[0]}: merge ", lines[0]);
        Assert.Contains(lines, l => l.StartsWith($"switched to individual {names[1]}: merge ") && l.Contains(" ms, total "));
        Assert.Contains(lines, l => l.StartsWith("error: ") && l.Contains("no-such-task") && l.Contains($"still serving individual {names[1]}"));
        Assert.Contains(lines, l => l.StartsWith("switched to task arithmetic"));
        var answers = lines.Where(l => l.StartsWith("{")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(answers.Count > 10);
        Assert.All(answers, a => Assert.Equal(3, a.GetProperty("top").GetArrayLength()));
    }

    [Fact]
    public void Serve_refuses_hostile_commands_with_a_clear_error_and_keeps_serving()
    {
        var names = zb.Zoo.Tasks.Select(t => t.Name).ToList();
        string fifo = Path.Combine(zb.Dir, "serve-input.fifo");
        if (!File.Exists(fifo))
            using (var p = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("mkfifo", [fifo]) { UseShellExecute = false })!)
                p.WaitForExit();
        string stdin = string.Join("\n",
            $"classify {names[0]} /dev/zero",
            $"classify {names[0]} {fifo}",
            $"classify {names[0]} {zb.Dir}",
            "use ta NaN",
            "use ta 1e39",
            "use ta 0,3",
            "use ties NaN",
            "use lines Infinity",
            "use tsv_merge -1e39",
            $"classify {names[0]} {zb.Zoo.TestImages(names[0])}",
            "quit") + "\n";
        var serve = Task.Run(() => InProcessWithInput(stdin, "serve", "--stdin", "--bundle", zb.Bundle, "--model", zb.Model, "--task", names[0]));
        Assert.True(serve.Wait(TimeSpan.FromMinutes(3)), "serve blocked (a FIFO input?)");
        var (code, output, err) = serve.Result;
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var errors = lines.Where(l => l.StartsWith("error: ")).ToList();
        Assert.Equal(9, errors.Count);
        Assert.Contains("/dev/zero is a character device, not a regular file", errors[0]);
        Assert.Contains("FIFO", errors[1]);
        Assert.Contains("is a directory", errors[2]);
        Assert.Contains("NaN", errors[3]);
        Assert.Contains("finite", errors[4]);
        Assert.Contains("'0,3' is not a number", errors[5]);
        Assert.All(errors, e => Assert.Contains($"still serving individual {names[0]}", e));
        Assert.DoesNotContain(lines, l => l.StartsWith("switched to task arithmetic") || l.StartsWith("switched to TIES") || l.StartsWith("switched to LiNeS"));
        var answers = lines.Where(l => l.StartsWith("{")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.True(answers.Count > 10);
        Assert.All(answers, a => Assert.All(a.GetProperty("top").EnumerateArray(), t => Assert.True(double.IsFinite(t.GetProperty("probability").GetDouble()))));
    }

    [Theory]
    [InlineData("NaN")]
    [InlineData("1e39")]
    [InlineData("0,3")]
    public void Run_refuses_a_coefficient_that_is_not_a_finite_number(string lambda)
    {
        var task = zb.Zoo.Tasks.First().Name;
        var (code, output, err) = InProcess(RunArgs(task, 4, "--merge", "ta", "--lambda", lambda));
        Assert.Equal(2, code);
        Assert.Contains("--lambda", err);
        Assert.Equal("", output);
    }

    [Fact]
    public void A_png_with_dark_ink_on_white_is_classified_like_the_same_idx_image()
    {
        var task = zb.Zoo.Tasks.First().Name;
        string png = Path.Combine(zb.Dir, $"{task}-7.png");
        var psi = new System.Diagnostics.ProcessStartInfo(Environment.GetEnvironmentVariable("EDGETVQ_PYTHON") ?? "/usr/bin/python3") { UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "fixtures", "idx_to_png.py"), zb.Zoo.TestImages(task), "7", png }) psi.ArgumentList.Add(arg);
        using (var p = System.Diagnostics.Process.Start(psi)!) { p.WaitForExit(); Assert.Equal(0, p.ExitCode); }

        var (c1, fromPng, e1) = InProcess("run", "--bundle", zb.Bundle, "--model", zb.Model, "--task", task, "--input", png, "--json");
        var (c2, fromIdx, e2) = InProcess("run", "--bundle", zb.Bundle, "--model", zb.Model, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", "8", "--json");
        Assert.True(c1 == 0, e1);
        Assert.True(c2 == 0, e2);
        using var a = JsonDocument.Parse(fromPng);
        using var b = JsonDocument.Parse(fromIdx);
        var pngTop = a.RootElement.GetProperty("predictions")[0].GetProperty("top")[0];
        var idxTop = b.RootElement.GetProperty("predictions")[7].GetProperty("top")[0];
        Assert.Equal(idxTop.GetProperty("index").GetInt32(), pngTop.GetProperty("index").GetInt32());
        Assert.Equal(idxTop.GetProperty("label").GetString(), pngTop.GetProperty("label").GetString());
        Assert.True(Math.Abs(idxTop.GetProperty("probability").GetDouble() - pngTop.GetProperty("probability").GetDouble()) < 1e-5);
    }

    [Fact]
    public void A_damaged_bundle_is_refused_by_the_cli_and_nothing_is_served()
    {
        string copy = Path.Combine(zb.Dir, "damaged");
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.EnumerateFiles(zb.Bundle)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        var task = zb.Zoo.Tasks.First().Name;
        var bytes = File.ReadAllBytes(Path.Combine(copy, task + ".tvqt"));
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(Path.Combine(copy, task + ".tvqt"), bytes);
        var (code, output, err) = InProcess(["run", "--bundle", copy, "--model", zb.Model, "--task", task, "--input", zb.Zoo.TestImages(task), "--limit", "4", "--json"]);
        Assert.Equal(1, code);
        Assert.Contains(task + ".tvqt", err);
        Assert.Equal("", output);
    }
}
