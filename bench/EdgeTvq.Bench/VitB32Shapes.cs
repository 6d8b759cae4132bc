namespace EdgeTvq.Bench;

/// <summary>The tensor set of CLIP ViT-B/32's image encoder (87.85M parameters), names as in its state dict.</summary>
internal static class VitB32Shapes
{
    public static List<(string Name, long[] Shape)> Visual()
    {
        const int width = 768, layers = 12, patch = 32, tokens = 50, output = 512;
        var t = new List<(string, long[])>
        {
            ("visual.class_embedding", [width]),
            ("visual.positional_embedding", [tokens, width]),
            ("visual.conv1.weight", [width, 3, patch, patch]),
            ("visual.ln_pre.weight", [width]), ("visual.ln_pre.bias", [width]),
            ("visual.ln_post.weight", [width]), ("visual.ln_post.bias", [width]),
            ("visual.proj", [width, output]),
        };
        for (int i = 0; i < layers; i++)
        {
            string p = $"visual.transformer.resblocks.{i}.";
            t.Add((p + "ln_1.weight", [width])); t.Add((p + "ln_1.bias", [width]));
            t.Add((p + "attn.in_proj_weight", [3 * width, width])); t.Add((p + "attn.in_proj_bias", [3 * width]));
            t.Add((p + "attn.out_proj.weight", [width, width])); t.Add((p + "attn.out_proj.bias", [width]));
            t.Add((p + "ln_2.weight", [width])); t.Add((p + "ln_2.bias", [width]));
            t.Add((p + "mlp.c_fc.weight", [4 * width, width])); t.Add((p + "mlp.c_fc.bias", [4 * width]));
            t.Add((p + "mlp.c_proj.weight", [width, 4 * width])); t.Add((p + "mlp.c_proj.bias", [width]));
        }
        return t;
    }
}
