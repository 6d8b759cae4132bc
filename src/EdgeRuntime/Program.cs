using System.CommandLine;
using EdgeTvq.Runtime.Commands;

namespace EdgeTvq.Runtime;

/// <summary><c>edgetvq</c>: the device side of EdgeTvq.</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("edgetvq: merge quantized task vectors into a model on the device and run it with ONNX Runtime")
        {
            RunCommand.Create(),
            InfoCommand.Create(),
            ServeCommand.Create(),
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
