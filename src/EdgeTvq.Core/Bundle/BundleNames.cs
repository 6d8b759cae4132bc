namespace EdgeTvq.Bundle;

/// <summary>Rules for task names and bundle file names (plain names, never paths).</summary>
public static class BundleNames
{
    /// <summary>1–64 characters of [A-Za-z0-9_.-], starting with a letter or digit.</summary>
    public static bool IsValidTaskName(string name)
    {
        if (name.Length is 0 or > 64 || !char.IsAsciiLetterOrDigit(name[0])) return false;
        foreach (char c in name)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-')) return false;
        return true;
    }

    public static void CheckTaskName(string name)
    {
        if (!IsValidTaskName(name))
            throw new ArgumentException($"task name '{name}' is invalid: use 1-64 characters of letters, digits, '_', '.', '-', starting with a letter or digit");
    }

    public static string TaskFileName(string task) => task + Format.FormatConstants.TaskFileExtension;

    /// <summary>A manifest file entry must be a plain file name inside the bundle directory.</summary>
    public static bool IsPlainFileName(string file) =>
        file.Length > 0 && file.IndexOfAny(['/', '\\', '\0']) < 0 && file != "." && file != "..";
}
