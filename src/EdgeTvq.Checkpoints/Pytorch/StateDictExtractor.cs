namespace EdgeTvq.Checkpoints.Pytorch;

/// <summary>Finds the name → tensor mapping in an unpickled checkpoint, the way model.state_dict() would name it.</summary>
internal static class StateDictExtractor
{
    // Keys under which training scripts commonly nest the weights.
    private static readonly string[] WrapperKeys = ["state_dict", "model", "model_state_dict"];
    private const int MaxModuleDepth = 256;

    public static List<(string Name, TorchTensor Tensor)> Extract(string path, object? root)
    {
        var result = new List<(string, TorchTensor)>();
        switch (root)
        {
            case PickleDict dict:
                foreach (string key in WrapperKeys)
                {
                    object? inner = dict.Get(key);
                    if (inner is PickleDict or PickleObject)
                    {
                        Collect(inner, result);
                        if (result.Count > 0) return result;
                    }
                }
                Collect(dict, result);
                break;
            case PickleObject module:
                Collect(module, result);
                break;
        }
        if (result.Count == 0)
            throw CheckpointFormatException.Create(path, null,
                $"holds no tensors: the pickled top-level object is a {PickleMachine.Describe(root)} with no tensor values, no 'state_dict'/'model'/'model_state_dict' entry and no nn.Module parameters. " +
                "Save the weights with torch.save(model.state_dict(), path).");
        return result;
    }

    private static void Collect(object? container, List<(string, TorchTensor)> result)
    {
        if (container is PickleDict dict)
        {
            foreach (var (key, value) in dict.Entries)
                if (key is string name && value is TorchTensor t) result.Add((name, t));
        }
        else if (container is PickleObject module)
        {
            WalkModule(module, "", result, new HashSet<PickleObject>(ReferenceEqualityComparer.Instance), 0);
        }
    }

    /// <summary>Mirrors nn.Module.state_dict(): own parameters, then persistent buffers, then children with "name." prefixes.</summary>
    private static void WalkModule(PickleObject module, string prefix, List<(string, TorchTensor)> result, HashSet<PickleObject> visiting, int depth)
    {
        if (depth > MaxModuleDepth || !visiting.Add(module)) return;
        if (module.State is not PickleDict state) return;

        if (state.Get("_parameters") is PickleDict parameters)
            foreach (var (key, value) in parameters.Entries)
                if (key is string name && value is TorchTensor t) result.Add((prefix + name, t));

        var nonPersistent = new HashSet<string>(StringComparer.Ordinal);
        if (state.Get("_non_persistent_buffers_set") is PickleSet set)
            foreach (object? item in set.Items)
                if (item is string s) nonPersistent.Add(s);
        if (state.Get("_buffers") is PickleDict buffers)
            foreach (var (key, value) in buffers.Entries)
                if (key is string name && value is TorchTensor t && !nonPersistent.Contains(name)) result.Add((prefix + name, t));

        if (state.Get("_modules") is PickleDict children)
            foreach (var (key, value) in children.Entries)
                if (key is string name && value is PickleObject child) WalkModule(child, prefix + name + ".", result, visiting, depth + 1);

        visiting.Remove(module);
    }
}
