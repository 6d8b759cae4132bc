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
        };
        // A command line that does not parse is bad usage (exit 2, as the README says), told in one line per problem.
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"error: {error.Message}");
            Console.Error.WriteLine("(add --help to the command for its usage)");
            return Cli.BadUsage;
        }
        return parsed.Invoke();
    }
}
