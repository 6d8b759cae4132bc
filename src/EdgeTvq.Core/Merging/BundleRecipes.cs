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

    /// <summary>
    /// Removes recipe <paramref name="name"/>; the manifest is rewritten atomically (without "recipes" once none is left).
    /// Removing the default recipe also clears "defaultRecipe"; returns true when it did.
    /// </summary>
    public static bool Remove(string bundleDir, string name)
    {
        using var writeLock = BundleWriteLock.Acquire(bundleDir, BundlePacker.DefaultLockWait);
        var m = ManifestIO.Load(bundleDir);
        if (m.Recipes is null || !m.Recipes.Remove(name))
            throw new ArgumentException($"the bundle has no recipe '{name}'");
        if (m.Recipes.Count == 0) m.Recipes = null;
        bool clearedDefault = m.DefaultRecipe == name;
        if (clearedDefault) m.DefaultRecipe = null;
        ManifestIO.Save(m, bundleDir);
        return clearedDefault;
    }

    /// <summary>
    /// Adds or replaces several recipes and, when <paramref name="defaultName"/> is given, makes it the bundle's default
    /// ("defaultRecipe"; it must be one of <paramref name="recipes"/> or already in the manifest): each recipe is
    /// checked against the bundle, then the manifest is rewritten once, atomically, under the bundle's write lock.
    /// </summary>
    public static void SetMany(string bundleDir, IReadOnlyList<(string Name, RecipeDocument Recipe)> recipes, string? defaultName, string origin)
    {
        foreach (var (name, _) in recipes)
            if (!BundleNames.IsValidTaskName(name))
                throw new ArgumentException($"recipe name '{name}' is invalid: use 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit");
        using var writeLock = BundleWriteLock.Acquire(bundleDir, BundlePacker.DefaultLockWait);
        var m = ManifestIO.Load(bundleDir);
        foreach (var (name, recipe) in recipes)
            recipe.ToRecipe(m, $"{origin}, recipe '{name}'", servedTask: m.Tasks.FirstOrDefault()?.Name);
        m.Recipes ??= new Dictionary<string, RecipeDocument>(StringComparer.Ordinal);
        foreach (var (name, recipe) in recipes) m.Recipes[name] = recipe;
        if (defaultName is not null)
        {
            if (!m.Recipes.ContainsKey(defaultName)) throw new ArgumentException($"the default recipe '{defaultName}' is not a recipe of the bundle");
            m.DefaultRecipe = defaultName;
        }
        ManifestIO.Validate(m, Path.Combine(bundleDir, EdgeTvq.Format.FormatConstants.ManifestFileName));
        ManifestIO.Save(m, bundleDir);
    }

    /// <summary>Makes recipe <paramref name="name"/> the bundle's default (null: no default); the manifest is rewritten atomically.</summary>
    public static void SetDefault(string bundleDir, string? name)
    {
        using var writeLock = BundleWriteLock.Acquire(bundleDir, BundlePacker.DefaultLockWait);
        var m = ManifestIO.Load(bundleDir);
        if (name is not null && (m.Recipes is null || !m.Recipes.ContainsKey(name)))
            throw new ArgumentException($"the bundle has no recipe '{name}' ({(m.Recipes is { Count: > 0 } r ? "it has: " + string.Join(", ", r.Keys) : "it has none")})");
        m.DefaultRecipe = name;
        ManifestIO.Save(m, bundleDir);
    }

    /// <summary>
    /// The bundle's default recipe ("defaultRecipe") resolved for <paramref name="servedTask"/>, or null when the
    /// manifest names none.
    /// </summary>
    public static MergeRecipe? Default(BundleManifest m, string? servedTask) =>
        m.DefaultRecipe is { } name ? Resolve(m, name, servedTask) : null;
}
