using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace EdgeTvq.Bundle;

/// <summary>
/// A bundle's manifest.json.sig (docs/bundle-format.md, section 9): signatures of manifest generations. Each entry
/// signs the exact bytes of one manifest.json with ECDSA P-256 / SHA-256 and names that manifest by its SHA-256, so
/// the file can hold the installed generation and the next one at once while an update swaps the manifest (no crash
/// point leaves a manifest without its signature). The manifest lists every file's size and SHA-256, so a valid
/// signature on it vouches for the whole bundle once the files are checked against it (every merge does).
/// </summary>
public sealed record SignatureFile(
    [property: JsonPropertyName("format")] string Format,
    [property: JsonPropertyName("signatures")] List<ManifestSignature> Signatures)
{
    public const string FormatName = "edgetvq-signatures";
    public const string FileName = "manifest.json.sig";
    /// <summary>A signature file larger than this is refused unread.</summary>
    public const long MaxBytes = 1 << 20;
}

/// <param name="ManifestSha256">SHA-256 of the signed manifest.json bytes, lowercase hex.</param>
/// <param name="KeyId">The signer's key: the first 16 hex digits of SHA-256 of its public key (SubjectPublicKeyInfo DER).</param>
/// <param name="Algorithm">Always "ECDSA-P256-SHA256".</param>
/// <param name="Signature">The signature (r ‖ s, 64 bytes, IEEE P1363), base64.</param>
public sealed record ManifestSignature(
    [property: JsonPropertyName("manifestSha256")] string ManifestSha256,
    [property: JsonPropertyName("keyId")] string KeyId,
    [property: JsonPropertyName("algorithm")] string Algorithm,
    [property: JsonPropertyName("signature")] string Signature);

[JsonSourceGenerationOptions(WriteIndented = true)]
[JsonSerializable(typeof(SignatureFile))]
internal sealed partial class SignatureJsonContext : JsonSerializerContext;

/// <summary>A manifest as loaded from a bundle folder: its contents, its generation and who signed it (null: not checked or unsigned).</summary>
public sealed record InstalledBundle(BundleManifest Manifest, string Generation, string? Signer);

/// <summary>A bundle refused by signature checking: unsigned, signed by a key not trusted, or changed after signing.</summary>
public sealed class BundleSignatureException(string path, string message)
    : EdgeTvqInputException($"{path}: {message}", path, null, null, null);

/// <summary>
/// Signing keys and signatures of bundle manifests. ECDSA P-256 with SHA-256 from System.Security.Cryptography: no
/// library beyond .NET itself (OpenSSL underneath, already loaded for SHA-256), native-AOT clean on x64 and arm64.
/// </summary>
public static class BundleSigning
{
    public const string Algorithm = "ECDSA-P256-SHA256";

    /// <summary>A new key pair: the private key as PKCS#8 PEM, the public key as SubjectPublicKeyInfo PEM, and its id.</summary>
    public static (string PrivatePem, string PublicPem, string KeyId) CreateKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (key.ExportPkcs8PrivateKeyPem(), key.ExportSubjectPublicKeyInfoPem(), KeyIdOf(key));
    }

    /// <summary>The key id: the first 16 hex digits of SHA-256 of the public key's SubjectPublicKeyInfo DER.</summary>
    public static string KeyIdOf(ECDsa key) => Convert.ToHexStringLower(SHA256.HashData(key.ExportSubjectPublicKeyInfo()))[..16];

    /// <summary>Reads a PEM private key (as keygen writes it); the error names the file.</summary>
    public static ECDsa LoadPrivateKey(string path)
    {
        string pem = System.Text.Encoding.ASCII.GetString(IO.LocalFile.ReadAllBytes(path, 64 << 10, "signing key"));
        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
            if (key.KeySize != 256) throw new CryptographicException($"a {key.KeySize}-bit key, not P-256");
            key.ExportParameters(includePrivateParameters: true); // throws when the PEM held only a public key
            return key;
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            key.Dispose();
            throw new InvalidDataException($"{path}: not an ECDSA P-256 private key in PEM ({e.Message}); make one with 'edgetvq-pack keygen'", e);
        }
    }

    /// <summary>Signs manifest bytes.</summary>
    public static ManifestSignature Sign(ReadOnlySpan<byte> manifest, ECDsa key) => new(
        Convert.ToHexStringLower(SHA256.HashData(manifest)), KeyIdOf(key), Algorithm,
        Convert.ToBase64String(key.SignData(manifest, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)));

    /// <summary>
    /// Signs the manifest.json of <paramref name="bundleDir"/> as it is now and writes manifest.json.sig (atomically) with
    /// that one signature: what <c>edgetvq-pack sign</c> does after checking the bundle.
    /// </summary>
    public static ManifestSignature SignBundle(string bundleDir, ECDsa key)
    {
        var (bytes, _) = ManifestIO.ReadBytes(bundleDir);
        var signature = Sign(bytes, key);
        IO.LocalFile.WriteAtomic(Path.Combine(bundleDir, SignatureFile.FileName), Serialize(new SignatureFile(SignatureFile.FormatName, [signature])));
        return signature;
    }

    /// <summary>Reads a signature file; null when there is none. Damaged files are errors naming the file.</summary>
    public static SignatureFile? Read(string path)
    {
        if (IO.LocalFile.KindOf(path) == IO.LocalFileKind.Missing) return null;
        byte[] bytes;
        try { bytes = IO.LocalFile.ReadAllBytes(path, SignatureFile.MaxBytes, "signature file"); }
        catch (InvalidDataException e) { throw new BundleSignatureException(path, e.Message); }
        try
        {
            var file = JsonSerializer.Deserialize(bytes, SignatureJsonContext.Default.SignatureFile);
            if (file?.Format != SignatureFile.FormatName || file.Signatures is null || file.Signatures.Any(s => s is null || s.ManifestSha256 is null || s.KeyId is null || s.Signature is null || s.Algorithm is null))
                throw new JsonException("not an edgetvq signature file");
            return file;
        }
        catch (JsonException e)
        {
            throw new BundleSignatureException(path, $"is damaged ({e.Message}); copy manifest.json.sig again from the signed bundle");
        }
    }

    public static byte[] Serialize(SignatureFile file) => JsonSerializer.SerializeToUtf8Bytes(file, SignatureJsonContext.Default.SignatureFile);

    /// <summary>A signature file with <paramref name="add"/> and the entries of <paramref name="keep"/> for other manifests.</summary>
    public static SignatureFile Merge(SignatureFile? keep, IEnumerable<ManifestSignature> add)
    {
        var list = add.ToList();
        if (keep is not null) list.AddRange(keep.Signatures.Where(s => list.All(a => a.ManifestSha256 != s.ManifestSha256)));
        return new SignatureFile(SignatureFile.FormatName, list);
    }
}

/// <summary>
/// The public keys a device trusts (every *.pem in a folder, /etc/edgetvq/keys by default), and the check that a
/// manifest carries a valid signature by one of them. Strict unless built with <see cref="AllowUnsigned"/>.
/// </summary>
public sealed class BundleTrust : IDisposable
{
    public const string DefaultFolder = "/etc/edgetvq/keys";
    private readonly Dictionary<string, ECDsa> _keys = new(StringComparer.Ordinal);

    /// <summary>The folder the keys came from, for messages.</summary>
    public string Folder { get; }
    /// <summary>Development mode: signatures are not checked at all, so unsigned (and re-edited) bundles load.</summary>
    public bool AllowsUnsigned { get; }
    public IReadOnlyCollection<string> KeyIds => _keys.Keys;

    private BundleTrust(string folder, bool allowUnsigned)
    {
        Folder = folder;
        AllowsUnsigned = allowUnsigned;
    }

    /// <summary>No key trusted, unsigned bundles accepted: for development (--allow-unsigned).</summary>
    public static BundleTrust AllowUnsigned(string folder = DefaultFolder) => new(folder, true);

    /// <summary>
    /// Loads every *.pem public key in <paramref name="folder"/>. Strict: a folder that is missing or holds no key is a
    /// start-up error saying how to install one or how to turn strictness off.
    /// </summary>
    public static BundleTrust Load(string folder, bool allowUnsigned = false)
    {
        var trust = new BundleTrust(folder, allowUnsigned);
        try
        {
            if (Directory.Exists(folder))
                foreach (var file in Directory.EnumerateFiles(folder, "*.pem").Order(StringComparer.Ordinal))
                {
                    IO.LocalFile.RequireRegular(file, "trusted key");
                    string pem = System.Text.Encoding.ASCII.GetString(IO.LocalFile.ReadAllBytes(file, 64 << 10, "trusted key"));
                    var key = ECDsa.Create();
                    try { key.ImportFromPem(pem); }
                    catch (Exception e) when (e is CryptographicException or ArgumentException)
                    {
                        key.Dispose();
                        throw new InvalidDataException($"{file}: not an ECDSA public key in PEM ({e.Message}); install the .pub.pem that 'edgetvq-pack keygen' wrote");
                    }
                    trust._keys.TryAdd(BundleSigning.KeyIdOf(key), key);
                }
            if (trust._keys.Count == 0 && !allowUnsigned)
                throw new InvalidDataException($"{folder}: no trusted key (*.pem). Install the public key of the bundle signer there (edgetvq-pack keygen writes KEY.pub.pem), point --trust-dir at another folder, or run with --allow-unsigned for development");
            return trust;
        }
        catch
        {
            trust.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Checks that <paramref name="manifest"/> (the bytes of <paramref name="manifestPath"/>) is signed by a trusted key in
    /// <paramref name="signatures"/>; returns the signer's key id, or null for an unsigned bundle accepted in development mode.
    /// </summary>
    public string? Check(ReadOnlySpan<byte> manifest, string manifestPath, SignatureFile? signatures, string signaturePath)
    {
        if (AllowsUnsigned) return null;
        if (signatures is null || signatures.Signatures.Count == 0)
        {
            throw new BundleSignatureException(manifestPath, $"the bundle is unsigned (no {SignatureFile.FileName}); this device accepts only bundles signed by a key in {Folder}. Sign it with 'edgetvq-pack sign', or run with --allow-unsigned for development");
        }
        string sha = Convert.ToHexStringLower(SHA256.HashData(manifest));
        var entries = signatures.Signatures.Where(s => s.ManifestSha256 == sha).ToList();
        if (entries.Count == 0)
            throw new BundleSignatureException(manifestPath, $"was changed after it was signed: {signaturePath} signs no manifest with this content (SHA-256 {sha[..16]}…). Re-sign the bundle with 'edgetvq-pack sign' after every change, or restore the signed manifest");
        string? foreign = null;
        foreach (var entry in entries)
        {
            if (!_keys.TryGetValue(entry.KeyId, out var key))
            {
                foreign = entry.KeyId;
                continue;
            }
            byte[] signature;
            try { signature = Convert.FromBase64String(entry.Signature); }
            catch (FormatException) { throw new BundleSignatureException(signaturePath, $"the signature by key {entry.KeyId} is not base64: the signature file is damaged or was tampered with"); }
            if (entry.Algorithm != BundleSigning.Algorithm || !key.VerifyData(manifest, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation))
                throw new BundleSignatureException(manifestPath, $"the signature by key {entry.KeyId} does not verify: manifest.json or {SignatureFile.FileName} was tampered with. Do not use this bundle; copy it again from the signer");
            return entry.KeyId;
        }
        throw new BundleSignatureException(manifestPath, $"is signed by key {foreign}, which this device does not trust (trusted in {Folder}: {(_keys.Count == 0 ? "none" : string.Join(", ", _keys.Keys))}). Install that key's .pub.pem in {Folder} if the signer is yours");
    }

    /// <summary>
    /// The installed manifest of <paramref name="bundleDir"/> read once: checked against <paramref name="trust"/> when given,
    /// parsed, and named by its generation (<see cref="BundleUpdate.GenerationOf"/>), all from the same bytes.
    /// </summary>
    public static InstalledBundle LoadInstalled(string bundleDir, BundleTrust? trust)
    {
        var (bytes, path) = ManifestIO.ReadBytes(bundleDir);
        string? signer = null;
        if (trust is not null)
        {
            string sigPath = Path.Combine(bundleDir, SignatureFile.FileName);
            signer = trust.Check(bytes, path, BundleSigning.Read(sigPath), sigPath);
        }
        return new InstalledBundle(ManifestIO.Parse(bytes, path), BundleUpdate.GenerationOf(bytes), signer);
    }

    /// <summary>Loads manifest.json of <paramref name="bundleDir"/> after checking its signature against these keys (one read of its bytes).</summary>
    public BundleManifest LoadManifest(string bundleDir) => LoadManifest(bundleDir, out _);

    public BundleManifest LoadManifest(string bundleDir, out string? signer)
    {
        var (bytes, path) = ManifestIO.ReadBytes(bundleDir);
        string sigPath = Path.Combine(bundleDir, SignatureFile.FileName);
        signer = Check(bytes, path, BundleSigning.Read(sigPath), sigPath);
        return ManifestIO.Parse(bytes, path);
    }

    public void Dispose()
    {
        foreach (var k in _keys.Values) k.Dispose();
        _keys.Clear();
    }
}
