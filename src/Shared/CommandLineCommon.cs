using System.CommandLine;
using System.CommandLine.Parsing;

namespace EdgeTvq.CommandLine;

/// <summary>
/// What both command lines (edgetvq, edgetvq-pack) do alike: parse and run, map failures to exit codes
/// (<see cref="ExitCodes"/>), parse coefficients strictly. Compiled into each of the two programs (a linked source
/// file, so Core stays free of System.CommandLine).
/// </summary>
internal static class CommandLineCommon
{
    /// <summary>Parses and runs; a command line that does not parse is bad usage (exit 2), told in one line per problem.</summary>
    public static int Invoke(RootCommand root, string[] args)
    {
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
            Console.Error.WriteLine("(add --help to the command for its usage)");
            return ExitCodes.BadUsage;
        }
        return parsed.Invoke();
    }

    /// <summary>Runs a command body: an expected failure prints one line and returns its exit code; a bug keeps its stack trace.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (ExitCodes.For(e) is int code)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return code;
        }
    }

    /// <summary>A coefficient option's parser: <see cref="EdgeTvq.Merging.MergeRecipe.ParseCoefficient"/> (strict, finite), its error reported as a usage error.</summary>
    public static float Coefficient(ArgumentResult r, string option)
    {
        try { return EdgeTvq.Merging.MergeRecipe.ParseCoefficient(r.Tokens.Single().Value, option); }
        catch (ArgumentException e)
        {
            r.AddError(e.Message);
            return 0f;
        }
    }
}
