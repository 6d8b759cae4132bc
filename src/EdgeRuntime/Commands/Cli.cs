using EdgeTvq.Checkpoints;
using EdgeTvq.Format;
using EdgeTvq.Runtime.Inference;

namespace EdgeTvq.Runtime.Commands;

internal static class Cli
{
    public const int Ok = ExitCodes.Ok, Failed = ExitCodes.Failed, BadUsage = ExitCodes.BadUsage;

    /// <summary>A coefficient option's parser: <see cref="EdgeTvq.Merging.MergeRecipe.ParseCoefficient"/> (strict, finite), its error reported as a usage error.</summary>
    public static float Coefficient(System.CommandLine.Parsing.ArgumentResult r, string option)
    {
        try { return EdgeTvq.Merging.MergeRecipe.ParseCoefficient(r.Tokens.Single().Value, option); }
        catch (ArgumentException e)
        {
            r.AddError(e.Message);
            return 0f;
        }
    }

    /// <summary>Expected failures print one clear line and return non-zero; nothing half-loaded is ever served.</summary>
    public static int Run(Func<int> body)
    {
        try
        {
            return body();
        }
        catch (Exception e) when (ExitCodes.For(e) is int code)
        {
            // One line; bugs (any other exception) keep their stack trace.
            Console.Error.WriteLine($"error: {e.Message}");
            return code;
        }
    }
}
