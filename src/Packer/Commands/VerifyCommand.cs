using System.CommandLine;
using EdgeTvq.Bundle;

namespace EdgeTvq.Packer.Commands;

/// <summary><c>edgetvq-pack verify</c>: every checksum and cross-reference; non-zero exit on any problem.</summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("DIR") { Description = "bundle folder" };
        var cmd = new Command("verify", "Check every checksum and cross-reference of a bundle") { dir };
        cmd.SetAction(r => Cli.Run(() =>
        {
            var result = BundleVerifier.Verify(r.GetValue(dir)!);
            foreach (var w in result.Warnings) Console.Error.WriteLine($"warning: {w}");
            foreach (var p in result.Problems) Console.Error.WriteLine($"error: {p}");
            if (!result.Ok)
            {
                Console.Error.WriteLine($"verify FAILED: {result.Problems.Count} problem(s)");
                return Cli.Failed;
            }
            Console.WriteLine($"verify OK: {result.FilesChecked} file(s), every record checksum, file hash and manifest entry match");
            return Cli.Ok;
        }));
        return cmd;
    }
}
