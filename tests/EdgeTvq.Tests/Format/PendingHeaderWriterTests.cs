using System.Security.Cryptography;
using EdgeTvq.Format;
using EdgeTvq.Quantization;
using EdgeTvq.Tests.Support;

namespace EdgeTvq.Tests.Format;

/// <summary>A file written before its header is known (the packer's pending identity) is the same file, checksums included.</summary>
public class PendingHeaderWriterTests
{
    [Fact]
    public void A_file_completed_with_its_header_later_equals_one_written_with_it()
    {
        using var dir = new TempDir();
        var identity = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();
        var id = Guid.NewGuid();
        FileHeader Header(byte[] ident) => new(FileKind.Task, Scheme.Tvq, QuantMode.Default, FileFlags.None, id, ident, 3);
        var rng = new Random(1);
        var packed = new byte[3_000_001]; // more than the read-back buffer
        rng.NextBytes(packed);
        void Records(BundleFileWriter w)
        {
            w.WriteMetadata("{}"u8);
            w.WriteQuantized("a.weight", [3_000_001 * 8 / 3 + 1, 1], new QuantParams(3, 0.5f, 2f, QuantMode.Default), packed);
            w.WriteFloat32("a.bias", [4], [1f, -2f, 0f, 3.5f], ownTensor: false);
        }
        string direct = dir["direct.tvqt"], later = dir["later.tvqt"];
        WrittenFile a, b;
        using (var w = new BundleFileWriter(direct, Header(identity)))
        {
            Records(w);
            a = w.Complete();
        }
        using (var w = new BundleFileWriter(later, Header(new byte[32]), headerPending: true))
        {
            Records(w);
            Assert.Throws<InvalidOperationException>(() => w.Complete());
            b = w.Complete(Header(identity));
        }
        Assert.Equal(File.ReadAllBytes(direct), File.ReadAllBytes(later));
        Assert.Equal(a.Length, b.Length);
        Assert.Equal(a.Sha256, b.Sha256);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(later))), b.Sha256);
    }
}
