using EdgeTvq.Bundle;

namespace EdgeTvq.Merging;

/// <summary>The named recipes of a bundle's manifest ("recipes"), and recipe resolution for the command lines.</summary>
public static class BundleRecipes
{
    /// <summary>
    /// <paramref name="nameOrFile"/> as a recipe for bundle <paramref name="m"/>: a file when it ends in ".json" or names an
    /// existing file, else a recipe of the manifest. <paramref name="servedTask"/> fills "task" for individual/EMR.
    /// </summary>
    public static MergeRecipe Resolve(BundleManifest m, string nameOrFile, string? servedTask = null)
    {
        if (nameOrFile.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(nameOrFile))
            return RecipeDocument.Load(nameOrFile).ToRecipe(m, Path.GetFileName(nameOrFile), servedTask);
        if (m.Recipes is null || !m.Recipes.TryGetValue(nameOrFile, out var doc))
            throw new ArgumentException($"the bundle has no recipe '{nameOrFile}' ({(m.Recipes is { Count: > 0 } r ? "it has: " + string.Join(", ", r.Keys) : "it has none")}) and no file of that name exists");
        return doc.ToRecipe(m, $"manifest.json, recipe '{nameOrFile}'", servedTask);
    }

    /// <summary>Adds or replaces recipe <paramref name="name"/> after checking it against the bundle; the manifest is rewritten atomically.</summary>
    public static void Set(string bundleDir, string name, RecipeDocument recipe, string origin)
    {
        if (!BundleNames.IsValidTaskName(name))
            throw new ArgumentException($"recipe name '{name}' is invalid: use 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit");
        using var writeLock = BundleWriteLock.Acquire(bundleDir, BundlePacker.DefaultLockWait);
        var m = ManifestIO.Load(bundleDir);
        recipe.ToRecipe(m, origin, servedTask: m.Tasks.FirstOrDefault()?.Name); // a recipe for individual/EMR may leave the task to the runtime
        m.Recipes ??= new Dictionary<string, RecipeDocument>(StringComparer.Ordinal);
        m.Recipes[name] = recipe;
        ManifestIO.Save(m, bundleDir);
    }

    /// <summary>Removes recipe <paramref name="name"/>; the manifest is rewritten atomically (without "recipes" once none is left).</summary>
    public static void Remove(string bundleDir, string name)
    {
        using var writeLock = BundleWriteLock.Acquire(bundleDir, BundlePacker.DefaultLockWait);
        var m = ManifestIO.Load(bundleDir);
        if (m.Recipes is null || !m.Recipes.Remove(name))
            throw new ArgumentException($"the bundle has no recipe '{name}'");
        if (m.Recipes.Count == 0) m.Recipes = null;
        ManifestIO.Save(m, bundleDir);
    }
}
