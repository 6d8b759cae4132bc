using System.CommandLine;
using EdgeTvq.Bundle;
using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using Spectre.Console;

namespace EdgeTvq.Packer;

/// <summary>Shared pieces of the commands: error handling, progress bars, NAME=PATH parsing.</summary>
internal static class Cli
{
    public const int Ok = ExitCodes.Ok, Failed = ExitCodes.Failed, BadUsage = ExitCodes.BadUsage;

    /// <inheritdoc cref="EdgeTvq.CommandLine.CommandLineCommon.Coefficient"/>
    public static float Coefficient(System.CommandLine.Parsing.ArgumentResult r, string option) => EdgeTvq.CommandLine.CommandLineCommon.Coefficient(r, option);

    /// <summary>Runs a command body; expected failures print one clear line and return non-zero.</summary>
    public static int Run(Func<int> body) => EdgeTvq.CommandLine.CommandLineCommon.Run(body);

    /// <summary>"NAME=PATH" → (NAME, PATH).</summary>
    public static (string Name, string Value) SplitAssignment(string text, string option)
    {
        int eq = text.IndexOf('=');
        if (eq <= 0 || eq == text.Length - 1)
            throw new ArgumentException($"{option} expects NAME=PATH, got '{text}'");
        return (text[..eq], text[(eq + 1)..]);
    }

    /// <summary>Runs <paramref name="work"/> with a Spectre.Console progress bar fed by <see cref="PackProgress"/> callbacks.</summary>
    public static T WithProgress<T>(Func<PackProgress, T> work)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            string? last = null;
            return work((phase, done, total) =>
            {
                if (phase != last) { Console.Error.WriteLine($"{phase}…"); last = phase; }
            });
        }
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var tasks = new Dictionary<string, ProgressTask>();
                result = work((phase, done, total) =>
                {
                    if (!tasks.TryGetValue(phase, out var t)) tasks[phase] = t = ctx.AddTask(phase, maxValue: Math.Max(1, total));
                    t.Value = done;
                });
                foreach (var t in tasks.Values) t.Value = t.MaxValue;
            });
        return result;
    }

    public static Option<string> Required(string name, string description) => new(name) { Description = description, Required = true };
}
