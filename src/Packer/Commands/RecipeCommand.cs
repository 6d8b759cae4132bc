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
        cmd.Subcommands.Add(Default());
        return cmd;
    }

    private static Command Default()
    {
        var bundle = Cli.Required("--bundle", "bundle folder");
        var name = new Option<string?>("--name") { Description = "the recipe run and serve use when given no --merge, --recipe or --individual" };
        var clear = new Option<bool>("--clear") { Description = "remove the default (run serves the individual model, serve task arithmetic)" };
        var cmd = new Command("default", "Set or clear the bundle's default recipe (\"defaultRecipe\")") { bundle, name, clear };
        cmd.SetAction(r => Cli.Run(() =>
        {
            if ((r.GetValue(name) is null) == !r.GetValue(clear)) throw new ArgumentException("give --name NAME or --clear");
            BundleRecipes.SetDefault(r.GetValue(bundle)!, r.GetValue(clear) ? null : r.GetValue(name));
            Console.WriteLine(r.GetValue(clear) ? "default recipe cleared" : $"default recipe: '{r.GetValue(name)}'");
            return Cli.Ok;
        }));
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
                Console.WriteLine($"{n,-20} {doc.Method,-16} {tasks}{(doc.Source is null ? "" : $"  ({doc.Source})")}{(m.DefaultRecipe == n ? "  [default]" : "")}");
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
            bool clearedDefault = BundleRecipes.Remove(r.GetValue(bundle)!, r.GetValue(name)!);
            Console.WriteLine($"recipe '{r.GetValue(name)}' removed{(clearedDefault ? "; it was the default recipe, so the bundle has no default now (run and serve fall back to their built-in choice)" : "")}");
            return Cli.Ok;
        }));
        return cmd;
    }
}
