using System.CommandLine;
using EdgeTvq.Bundle;
using EdgeTvq.Merging;

namespace EdgeTvq.Packer.Commands;

/// <summary>
/// <c>edgetvq-pack recipe set|list|remove --bundle DIR [--name N] [--file recipe.json]</c>: the named merge recipes kept
/// in manifest.json ("recipes"). Every change rewrites only the manifest, atomically (written aside, then renamed).
/// </summary>
internal static class RecipeCommand
{
    public static Command Create()
    {
        var cmd = new Command("recipe", "Named merge recipes stored in the bundle's manifest (set, list, remove)");
        cmd.Subcommands.Add(Set());
        cmd.Subcommands.Add(List());
        cmd.Subcommands.Add(Remove());
        return cmd;
    }

    private static Command Set()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var name = Cli.Required("--name", "recipe name (letters, digits, '_', '.', '-')");
        var file = Cli.Required("--file", "recipe JSON file (docs/merging.md)");
        var cmd = new Command("set", "Add or replace a named recipe after checking it against the bundle") { bundle, name, file };
        cmd.SetAction(r => Cli.Run(() =>
        {
            string path = r.GetValue(file)!;
            var doc = RecipeDocument.Load(path);
            BundleRecipes.Set(r.GetValue(bundle)!, r.GetValue(name)!, doc, Path.GetFileName(path));
            Console.WriteLine($"recipe '{r.GetValue(name)}' set ({doc.Method})");
            return Cli.Ok;
        }));
        return cmd;
    }

    private static Command List()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var cmd = new Command("list", "List the bundle's named recipes") { bundle };
        cmd.SetAction(r => Cli.Run(() =>
        {
            var m = ManifestIO.Load(r.GetValue(bundle)!);
            if (m.Recipes is not { Count: > 0 }) { Console.WriteLine("no recipes"); return Cli.Ok; }
            foreach (var (n, doc) in m.Recipes)
            {
                string tasks = doc.Tasks is null ? (doc.Coefficients is null ? "every task" : string.Join(", ", doc.Coefficients.Keys)) : string.Join(", ", doc.Tasks);
                Console.WriteLine($"{n,-20} {doc.Method,-16} {tasks}{(doc.Source is null ? "" : $"  ({doc.Source})")}");
            }
            return Cli.Ok;
        }));
        return cmd;
    }

    private static Command Remove()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var name = Cli.Required("--name", "recipe name");
        var cmd = new Command("remove", "Remove a named recipe") { bundle, name };
        cmd.SetAction(r => Cli.Run(() =>
        {
            BundleRecipes.Remove(r.GetValue(bundle)!, r.GetValue(name)!);
            Console.WriteLine($"recipe '{r.GetValue(name)}' removed");
            return Cli.Ok;
        }));
        return cmd;
    }
}
