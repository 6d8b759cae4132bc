using EdgeTvq.Format;

namespace EdgeTvq.Bundle;

/// <summary>Streams the RTVQ base file, yielding dequantized base vectors Q(base) in table order.</summary>
public sealed class BaseVectorReader : IDisposable
{
    private readonly CheckedFileReader _file;
    private readonly PackOptions _options;

    private BaseVectorReader(CheckedFileReader file, PackOptions options)
    {
        _file = file;
        _options = options;
    }

    public static BaseVectorReader Open(string bundleDir, BundleManifest m, PackOptions options)
    {
        uint records = (uint)m.Tensors.Count(e => e.Storage == "quantized");
        return new BaseVectorReader(CheckedFileReader.Open(bundleDir, m, m.Base!, FileKind.Base, records), options);
    }

    /// <summary>Q(base) for the next quantized table entry, which must be <paramref name="entry"/>.</summary>
    public float[] Next(TensorEntry entry)
    {
        var r = _file.Next(entry.Name, entry.Shape, _options.BaseBits, RecordKind.Quantized, RecordKind.Constant, RecordKind.Float32);
        var v = new float[r.ElementCount];
        r.DecodeTo(v, _options.Mode);
        return v;
    }

    public void Finish() => _file.Finish();

    public void Dispose() => _file.Dispose();
}
