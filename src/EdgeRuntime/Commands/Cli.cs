
namespace EdgeTvq.Runtime.Commands;

internal static class Cli
{
    public const int Ok = ExitCodes.Ok, Failed = ExitCodes.Failed, BadUsage = ExitCodes.BadUsage;

    /// <inheritdoc cref="EdgeTvq.CommandLine.CommandLineCommon.Coefficient"/>
    public static float Coefficient(System.CommandLine.Parsing.ArgumentResult r, string option) => EdgeTvq.CommandLine.CommandLineCommon.Coefficient(r, option);

    /// <summary>Expected failures print one clear line and return non-zero; nothing half-loaded is ever served.</summary>
    public static int Run(Func<int> body) => EdgeTvq.CommandLine.CommandLineCommon.Run(body);
}
