using System.Collections.Concurrent;
using System.Text.Json;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder;

/// <summary>Settings of <see cref="CrossEncoder.Load"/>.</summary>
public sealed class CrossEncoderOptions
{
    /// <summary>Threads each forward pass is split across (default: all cores).</summary>
    public int? Threads { get; init; }
    /// <summary>
    /// Tokens per pair, special tokens included (sentence-transformers' max_length); default the tokenizer's
    /// model_max_length, capped by max_position_embeddings.
    /// </summary>
    public int? MaxLength { get; init; }
}

/// <summary>One document of <see cref="CrossEncoder.Rank"/>: its 0-based position in the input, its score and text.</summary>
/// <param name="Index">Position of the document in the list given to Rank.</param>
/// <param name="Score">The cross-encoder's score of (query, document).</param>
/// <param name="Document">The document.</param>
public sealed record RankedDocument(int Index, float Score, string Document);

/// <summary>
/// A cross-encoder (reranker): a BertForSequenceClassification model directory scoring text pairs as
/// sentence-transformers' <c>CrossEncoder(dir).predict(pairs)</c> and <c>.rank(query, docs)</c> do. Each pair is
/// stripped and encoded as [CLS] a [SEP] b [SEP] with token types 1 on the second segment, cut to
/// <see cref="MaxLength"/> by the longest_first rule; the logits go through the activation config.json names
/// (see <see cref="CrossEncoderConfig"/>).
/// <para>Thread safety: a loaded cross-encoder is immutable; concurrent calls are safe (each takes its own workspace).</para>
/// </summary>
public sealed class CrossEncoder : IDisposable
{
    private readonly BertForSequenceClassification _model;
    private readonly BertTokenizer _tokenizer;
    private readonly KernelThreadPool _pool;
    private readonly ConcurrentBag<EncoderWorkspace> _workspaces = new();
    private bool _disposed;

    /// <summary>The parsed config.json.</summary>
    public CrossEncoderConfig Config { get; }
    /// <summary>Tokens per pair, special tokens included; longer pairs are cut (longest_first).</summary>
    public int MaxLength { get; }
    /// <summary>Scores per pair (1 for rerankers).</summary>
    public int NumLabels => Config.NumLabels;
    /// <summary>The WordPiece tokenizer of the model directory.</summary>
    public BertTokenizer Tokenizer => _tokenizer;

    private CrossEncoder(CrossEncoderConfig config, BertForSequenceClassification model, BertTokenizer tokenizer, int threads, int maxLength)
    {
        Config = config;
        _model = model;
        _tokenizer = tokenizer;
        _pool = threads == 1 ? KernelThreadPool.Serial : new KernelThreadPool(threads);
        MaxLength = maxLength;
    }

    /// <summary>
    /// Loads a Hugging Face sequence-classification directory (config.json, model.safetensors, vocab.txt or
    /// tokenizer.json, optional tokenizer_config.json). Errors name the file at fault.
    /// </summary>
    public static CrossEncoder Load(string modelDirectory, CrossEncoderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        options ??= new CrossEncoderOptions();
        if (!Directory.Exists(modelDirectory)) throw new ManagedEmbedException($"model directory '{modelDirectory}' does not exist");
        var config = CrossEncoderConfig.Load(Path.Combine(modelDirectory, "config.json"));
        int threads = options.Threads ?? Environment.ProcessorCount;
        if (threads < 1 || threads > SentenceEncoder.MaxThreads) throw new ManagedEmbedException($"threads must be in [1, {SentenceEncoder.MaxThreads}], got {threads}");
        int limit = config.Bert.MaxPositionEmbeddings;
        int maxLength;
        if (options.MaxLength is int m)
        {
            if (m < BertTokenizer.PairSpecialTokens || m > limit)
                throw new ManagedEmbedException($"max length {m} must be in [{BertTokenizer.PairSpecialTokens}, {limit}] (max_position_embeddings)");
            maxLength = m;
        }
        else maxLength = Math.Min(limit, ModelMaxLength(modelDirectory) ?? limit);
        var tokenizer = EncoderRegistry.LoadTokenizer(modelDirectory) as BertTokenizer
            ?? throw new ManagedEmbedException($"model directory '{modelDirectory}': a cross-encoder needs a WordPiece (BERT) tokenizer for its [CLS] a [SEP] b [SEP] pairs");
        if (tokenizer.VocabSize > config.Bert.VocabSize)
            throw new ManagedEmbedException($"model directory '{modelDirectory}': the vocabulary has {tokenizer.VocabSize} tokens but config.json vocab_size is {config.Bert.VocabSize}");
        string weights = Path.Combine(modelDirectory, "model.safetensors");
        if (!File.Exists(weights)) throw new ManagedEmbedException($"missing model.safetensors: '{weights}' does not exist");
        var model = BertForSequenceClassification.Load(weights, config);
        try { return new CrossEncoder(config, model, tokenizer, threads, maxLength); }
        catch { model.Dispose(); throw; }
    }

    /// <summary>tokenizer_config.json's model_max_length (HF's truncation length when none is given), or null.</summary>
    private static int? ModelMaxLength(string dir)
    {
        string path = Path.Combine(dir, "tokenizer_config.json");
        if (!File.Exists(path)) return null;
        using var doc = JsonFile.Load(path);
        var o = JsonFile.RequireObject(doc, path);
        if (!o.TryGetProperty("model_max_length", out var v) || v.ValueKind != JsonValueKind.Number) return null;
        // transformers writes a huge sentinel (int(1e30)) when the model sets no limit: the positions decide then.
        return v.TryGetDouble(out double d) && d >= BertTokenizer.PairSpecialTokens && d < int.MaxValue ? (int)d : null;
    }

    /// <summary>The ids and token types of one pair, as the model sees it (both texts stripped, then cut to <see cref="MaxLength"/>).</summary>
    public EncodedPair Tokenize(string first, string second)
    {
        ArgumentNullException.ThrowIfNull(first);
        ArgumentNullException.ThrowIfNull(second);
        return _tokenizer.EncodePair(first.Trim(SentenceEncoder.PythonWhitespace), second.Trim(SentenceEncoder.PythonWhitespace), MaxLength);
    }

    /// <summary>
    /// Scores every pair (one score per pair; the model must have one label), in input order, as
    /// <c>CrossEncoder.predict(pairs)</c> does.
    /// </summary>
    public float[] Predict(IReadOnlyList<(string First, string Second)> pairs, int batchSize = 32)
    {
        if (NumLabels != 1) throw new ManagedEmbedException($"the model has {NumLabels} labels, so each pair has {NumLabels} scores (use PredictLabels)");
        return PredictCore(pairs, batchSize);
    }

    /// <summary>The scores of every label for every pair: [pairs.Count][NumLabels], activation applied.</summary>
    public float[][] PredictLabels(IReadOnlyList<(string First, string Second)> pairs, int batchSize = 32)
    {
        float[] flat = PredictCore(pairs, batchSize);
        var rows = new float[pairs.Count][];
        for (int i = 0; i < rows.Length; i++) rows[i] = flat.AsSpan(i * NumLabels, NumLabels).ToArray();
        return rows;
    }

    /// <summary>
    /// Scores (query, document) for every document and returns them best first (ties keep input order), at most
    /// <paramref name="topK"/> of them (null: all), as <c>CrossEncoder.rank(query, documents, top_k)</c> does.
    /// </summary>
    public IReadOnlyList<RankedDocument> Rank(string query, IReadOnlyList<string> documents, int? topK = null, int batchSize = 32)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(documents);
        if (topK is < 1) throw new ManagedEmbedException($"top k must be at least 1, got {topK}");
        var pairs = new (string, string)[documents.Count];
        for (int i = 0; i < pairs.Length; i++) pairs[i] = (query, documents[i] ?? throw new ArgumentNullException(nameof(documents), $"document {i} is null"));
        float[] scores = Predict(pairs, batchSize);
        int[] order = Enumerable.Range(0, scores.Length).ToArray();
        // Descending score, ascending index on ties (Python's stable sort with reverse=True keeps input order).
        Array.Sort(order, (a, b) => scores[a] != scores[b] ? scores[b].CompareTo(scores[a]) : a.CompareTo(b));
        int k = Math.Min(order.Length, topK ?? order.Length);
        var result = new RankedDocument[k];
        for (int r = 0; r < k; r++) result[r] = new RankedDocument(order[r], scores[order[r]], documents[order[r]]);
        return result;
    }

    private float[] PredictCore(IReadOnlyList<(string First, string Second)> pairs, int batchSize)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(pairs);
        if (batchSize < 1) throw new ManagedEmbedException($"batch size must be at least 1, got {batchSize}");
        var encoded = new EncodedPair[pairs.Count];
        for (int i = 0; i < encoded.Length; i++)
        {
            var (a, b) = pairs[i];
            if (a is null || b is null) throw new ArgumentNullException(nameof(pairs), $"pair {i} holds a null text");
            encoded[i] = Tokenize(a, b);
        }
        int labels = NumLabels;
        var output = new float[encoded.Length * labels];
        // Longest first so each batch holds similar lengths; sequences are packed without padding (TokenBatch).
        int[] order = Enumerable.Range(0, encoded.Length).ToArray();
        Array.Sort(order, (x, y) => encoded[x].Ids.Length != encoded[y].Ids.Length ? encoded[y].Ids.Length.CompareTo(encoded[x].Ids.Length) : x.CompareTo(y));
        var ws = _workspaces.TryTake(out var w) ? w : new EncoderWorkspace();
        try
        {
            for (int start = 0; start < order.Length; start += batchSize)
            {
                int count = Math.Min(batchSize, order.Length - start);
                var ids = new int[count][];
                var types = new int[count][];
                for (int i = 0; i < count; i++) (ids[i], types[i]) = (encoded[order[start + i]].Ids, encoded[order[start + i]].TypeIds);
                var logits = new float[count * labels];
                _model.Forward(new TokenBatch(ids, types), ws, logits, _pool);
                for (int i = 0; i < count; i++)
                    for (int l = 0; l < labels; l++)
                        output[order[start + i] * labels + l] = Activate(logits[i * labels + l]);
            }
        }
        finally { _workspaces.Add(ws); }
        return output;
    }

    private float Activate(float x) => Config.Activation switch
    {
        ScoreActivation.Sigmoid => (float)(1.0 / (1.0 + Math.Exp(-(double)x))),
        ScoreActivation.Tanh => (float)Math.Tanh(x),
        _ => x,
    };

    /// <summary>Releases the memory-mapped weights.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_pool != KernelThreadPool.Serial) _pool.Dispose();
        _model.Dispose();
    }
}
