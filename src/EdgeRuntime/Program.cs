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
            UpdateCommand.Create(),
        };
        return EdgeTvq.CommandLine.CommandLineCommon.Invoke(root, args);
    }
}
