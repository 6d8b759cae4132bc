using EdgeTvq.Merging;
using EdgeTvq.Runtime.Http;

namespace EdgeTvq.Runtime.Device;

/// <summary>
/// What the task button does, through the same switch path as an HTTP load (<see cref="ModelRouter.LoadAsync"/>,
/// counted as <c>edgetvq_switches_total{reason="button"}</c>):
/// <list type="bullet">
/// <item>short press: the next task's model. After a per-task model (individual, EMR, TSV-Compress) of task T, the task
/// after T in the manifest's order (after the last, the first), built by the same method
/// (<see cref="ModelRouter.RecipeFor"/>, as an automatic switch would); after a merged model, the first task.</item>
/// <item>long press: the default recipe, the one serve started with.</item>
/// </list>
/// One switch at a time: a press while the button's switch still runs is ignored (the LED is blinking).
/// </summary>
public sealed class ButtonTasks(ModelRouter router, MergeRecipe defaultRecipe)
{
    private int _busy;

    public MergeRecipe DefaultRecipe => defaultRecipe;

    /// <summary>The switch of the last press that was not ignored (the tests await it).</summary>
    public Task? Last { get; private set; }

    /// <summary>Starts the press's switch; null when one is still running (the press is ignored).</summary>
    public Task? Press(ButtonPress press)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
        {
            Console.WriteLine($"button: {press.ToString().ToLowerInvariant()} press ignored, a switch is running");
            return null;
        }
        return Last = Task.Run(async () =>
        {
            try
            {
                var target = press == ButtonPress.Long ? defaultRecipe : RecipeAfter(router.TaskNames, router.LiveRecipeObject());
                var report = await router.LoadAsync(target, force: false, CancellationToken.None, reason: "button");
                Console.WriteLine(report is null ? $"button: {target} is already live"
                    : $"button: switched to {report.Recipe}: merge {report.Merge.TotalMilliseconds:F0} ms, session {report.Session.TotalMilliseconds:F0} ms, total {report.Total.TotalMilliseconds:F0} ms");
            }
            catch (Exception e) when (ExitCodes.For(e) is not null)
            {
                Console.Error.WriteLine($"error: button {press.ToString().ToLowerInvariant()} press: {e.Message} (still serving {router.LiveRecipe()})");
            }
            finally { Volatile.Write(ref _busy, 0); }
        });
    }

    /// <summary>The recipe a short press switches to from <paramref name="live"/> (see the class remarks).</summary>
    public static MergeRecipe RecipeAfter(IReadOnlyList<string> tasks, MergeRecipe live)
    {
        if (tasks.Count == 0) throw new InvalidOperationException("the bundle has no task");
        return ModelRouter.RecipeFor(NextTask(tasks, live), live);
    }

    public static string NextTask(IReadOnlyList<string> tasks, MergeRecipe live)
    {
        if (live.Descriptor.ServesOneTask && live.Task is { } t)
        {
            int i = tasks.ToList().IndexOf(t);
            if (i >= 0) return tasks[(i + 1) % tasks.Count];
        }
        return tasks[0];
    }
}
