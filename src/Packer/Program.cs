using System.CommandLine;
using EdgeTvq.Packer.Commands;

namespace EdgeTvq.Packer;

/// <summary><c>edgetvq-pack</c>: the workstation side of EdgeTvq.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("edgetvq-pack: quantize task vectors (FQ, TVQ, RTVQ) of fine-tuned checkpoints into an EdgeTvq bundle")
        {
            PackCommand.Create(),
            AddTaskCommand.Create(),
            InspectCommand.Create(),
            VerifyCommand.Create(),
            DecodeCommand.Create(),
            MergeCommand.Create(),
            AdaMergeCommand.Create(),
            RecipeCommand.Create(),
            TuneCommand.Create(),
            SensitivityCommand.Create(),
            SigningCommands.Keygen(),
            SigningCommands.Sign(),
            SigningCommands.RemoveTask(),
        };
        return EdgeTvq.CommandLine.CommandLineCommon.Invoke(root, args);
    }
}
