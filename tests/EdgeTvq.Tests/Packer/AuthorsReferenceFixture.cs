using EdgeTvq.TestSupport;

namespace EdgeTvq.Tests.Packer;

/// <summary>Checkpoints written by PyTorch and the authors' τ̂, from fixtures/authors_reference.py (run once, cached).</summary>
public sealed class AuthorsReferenceFixture
{
    public string Dir { get; } = PythonScript.RunCached(
        Path.Combine(AppContext.BaseDirectory, "fixtures", "authors_reference.py"), "done.json", "edgetvq-authors-reference");

    public string this[string file] => Path.Combine(Dir, file);
}

[CollectionDefinition(Name)]
public sealed class AuthorsReferenceCollection : ICollectionFixture<AuthorsReferenceFixture>
{
    public const string Name = "authors' reference outputs";
}
