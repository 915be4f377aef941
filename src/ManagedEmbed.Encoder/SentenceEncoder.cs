using System.Collections.Concurrent;
using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Pooling;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder;

/// <summary>
/// A sentence-transformers model loaded from its directory: tokenizer → transformer encoder (BERT, DistilBERT, MPNet) → pooling → optional L2 normalization,
/// producing what <c>SentenceTransformer(dir).encode(texts)</c> returns.
/// <para>
/// Thread safety: a loaded encoder is immutable; any number of threads may call the Encode/Tokenize methods on
/// one instance concurrently (each call takes its own scratch workspace). <see cref="Dispose"/> must not race with them.
/// </para>
/// </summary>
public sealed class SentenceEncoder : IDisposable
{
    private readonly IEncoderModel _model;
    private readonly ITokenizer _tokenizer;
    private readonly ConcurrentBag<EncoderWorkspace> _workspaces = new();
    private readonly int _threads;
    private readonly KernelThreadPool _pool;
    private bool _disposed;

    /// <summary>Largest <see cref="EncoderOptions.Threads"/> accepted.</summary>
    public const int MaxThreads = 256;

    /// <summary>The parsed model directory.</summary>
    public SentenceModelConfig Config { get; }
    /// <summary>Width of the output embeddings.</summary>
    public int Dimension { get; }
    /// <summary>Tokens per text, special tokens included; longer texts are truncated to this.</summary>
    public int MaxSeqLength { get; }
    /// <summary>True when modules.json lists a Normalize module, so outputs are unit-length unless asked otherwise.</summary>
    public bool NormalizesByDefault => Config.Normalize;
    /// <summary>Threads each forward pass is split across.</summary>
    public int Threads => _threads;

    private SentenceEncoder(SentenceModelConfig config, IEncoderModel model, ITokenizer tokenizer, int threads, int maxSeqLength)
    {
        Config = config;
        _model = model;
        _tokenizer = tokenizer;
        _threads = threads;
        // One fixed pool per encoder: every GEMM, attention and LayerNorm of a forward pass is split across it.
        _pool = threads == 1 ? KernelThreadPool.Serial : new KernelThreadPool(threads);
        MaxSeqLength = maxSeqLength;
        Dimension = SentencePooling.OutputDimension(config.Pooling, config.Transformer.HiddenSize);
    }

    /// <summary>
    /// Loads the model in <paramref name="modelDirectory"/> (config.json, model.safetensors, vocab.txt,
    /// modules.json, 1_Pooling/config.json, optional sentence_bert_config.json and tokenizer_config.json).
    /// Any missing file, bad header or shape mismatch is a <see cref="ManagedEmbedException"/> naming it.
    /// </summary>
    public static SentenceEncoder Load(string modelDirectory, EncoderOptions? options = null)
    {
        options ??= new EncoderOptions();
        var config = SentenceModelConfig.Load(modelDirectory);
        int threads = options.Threads ?? Environment.ProcessorCount;
        if (threads < 1 || threads > MaxThreads) throw new ManagedEmbedException($"threads must be in [1, {MaxThreads}], got {threads}");
        int maxSeq = config.MaxSeqLength;
        if (options.MaxSeqLength is int m)
        {
            int limit = config.Transformer.MaxSequenceLength;
            if (m < 2 || m > limit)
                throw new ManagedEmbedException($"max sequence length {m} must be in [2, {limit}] (max_position_embeddings)");
            maxSeq = m;
        }
        if (!File.Exists(config.WeightsPath)) throw new ManagedEmbedException($"missing model.safetensors: '{config.WeightsPath}' does not exist");
        // The tokenizer (reading the vocabulary and building its table: about as long as opening the weights) loads
        // on a second thread while this one opens the model, so a cold start pays for the longer of the two only.
        // F32 weights are read from the memory map until packing pays; others are packed by the model's background
        // packer (EncoderModel.StartPacking).
        var tokenizerLoad = new ParallelLoad<ITokenizer>(() =>
        {
            var t = EncoderRegistry.LoadTokenizer(modelDirectory);
            SentenceTokenizer.CheckVocabulary(modelDirectory, t, config.Transformer);
            return t;
        });
        EncoderModel model;
        try
        {
            model = EncoderRegistry.LoadModel(config.WeightsPath, config.Transformer, options.Int8Weights);
        }
        finally
        {
            // A model error is reported first, as when the tokenizer loaded after it; the tokenizer's is then moot.
            tokenizerLoad.Wait();
        }
        try
        {
            return new SentenceEncoder(config, model, tokenizerLoad.Result(), threads, maxSeq);
        }
        catch { model.Dispose(); throw; }
    }

    /// <summary>The tokenizer the registry chose for this model directory.</summary>
    public ITokenizer Tokenizer => _tokenizer;

    /// <summary>The encoder model the registry chose from config.json.</summary>
    public IEncoderModel Model => _model;

    /// <summary>Token ids of <paramref name="text"/> with the model's special tokens, truncated to <see cref="MaxSeqLength"/>.</summary>
    public int[] Tokenize(string text) => SentenceTokenizer.Encode(_tokenizer, text, MaxSeqLength);

    /// <summary>
    /// Token ids of <paramref name="text"/> as <see cref="Tokenize(string)"/>, telling whether the text was longer
    /// than <see cref="MaxSeqLength"/> (it is tokenized one token further: a cut leaves the same ids as tokenizing
    /// to the limit, since every tokenizer closes the sequence with exactly one special token).
    /// </summary>
    /// <exception cref="TextTooLongException">The text is too long and <paramref name="truncation"/> is Error (index 0).</exception>
    public int[] Tokenize(string text, TruncationMode truncation, out bool truncated)
    {
        int[] ids = SentenceTokenizer.Encode(_tokenizer, text, MaxSeqLength + 1);
        truncated = ids.Length > MaxSeqLength;
        if (!truncated) return ids;
        if (truncation == TruncationMode.Error) throw new TextTooLongException(0, MaxSeqLength);
        var cut = new int[MaxSeqLength];
        ids.AsSpan(0, MaxSeqLength - 1).CopyTo(cut);
        cut[^1] = ids[^1];
        return cut;
    }

    /// <summary>The characters Python's <c>str.isspace()</c> accepts (what <c>str.strip()</c> removes).</summary>
    internal static readonly char[] PythonWhitespace =
    [
        '\t', '\n', '\u000B', '\u000C', '\r', '\u001C', '\u001D', '\u001E', '\u001F', ' ', '\u0085', '\u00A0', '\u1680',
        '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200A',
        '\u2028', '\u2029', '\u202F', '\u205F', '\u3000',
    ];

    /// <summary>Embeds one text (normalized when the model has a Normalize module, unless <paramref name="normalize"/> says otherwise).</summary>
    public float[] Encode(string text, bool? normalize = null) => EncodeIds([Tokenize(text)], 1, normalize).Data;

    /// <summary>
    /// Embeds <paramref name="texts"/> in batches of <paramref name="batchSize"/> (texts sorted by length so each batch
    /// holds similar lengths), returning contiguous [texts.Count, Dimension] in input order.
    /// </summary>
    public EmbeddingMatrix Encode(IReadOnlyList<string> texts, int batchSize = 32, bool? normalize = null, IProgress<EncodeProgress>? progress = null) =>
        Encode(texts, new EncodeOptions { BatchSize = batchSize, Normalize = normalize, Progress = progress });

    /// <summary>
    /// Embeds <paramref name="texts"/> as sentence-transformers' <c>encode(texts, prompt_name=…, prompt=…,
    /// truncate_dim=…, normalize_embeddings=…)</c> does (see <see cref="EncodeOptions"/>): the resolved prompt is
    /// prepended to every text before tokenization, and its tokens are left out of the pool when the Pooling module
    /// says include_prompt false. Returns [texts.Count, <see cref="OutputDimension"/>] in input order.
    /// </summary>
    public EmbeddingMatrix Encode(IReadOnlyList<string> texts, EncodeOptions options)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(options);
        string? prompt = Config.SentenceTransformers.ResolvePrompt(options.PromptName, options.Prompt);
        int skip = PromptPoolSkip(prompt);
        int outDim = OutputDimension(options.TruncateDim);
        var ids = new int[texts.Count][];
        int truncated = 0;
        for (int i = 0; i < texts.Count; i++)
        {
            string text = texts[i] ?? throw new ArgumentNullException(nameof(texts), $"text {i} is null");
            try { ids[i] = Tokenize(prompt is null ? text : prompt + text, options.Truncation, out bool cut); truncated += cut ? 1 : 0; }
            catch (TextTooLongException) { throw new TextTooLongException(i, MaxSeqLength); }
        }
        // Before the first batch: the caller learns how many texts were cut (and sees 0 done).
        options.Progress?.Report(new EncodeProgress(0, texts.Count, truncated));
        return EncodeCore(ids, options.BatchSize, options.Normalize, outDim, skip, options.Progress, truncated);
    }

    /// <summary>
    /// How many leading tokens of a text prefixed with <paramref name="prompt"/> the pool leaves out: 0 unless the
    /// Pooling module says include_prompt false, then sentence-transformers' prompt_length (the prompt tokenized
    /// alone, less its closing special token). Null (no prompt) gives 0.
    /// </summary>
    public int PromptPoolSkip(string? prompt) => prompt is not null && !Config.PoolingIncludesPrompt ? Tokenize(prompt).Length - 1 : 0;

    /// <summary>
    /// sentence-transformers' <c>encode_query</c>: <see cref="Encode(IReadOnlyList{string}, EncodeOptions)"/> with the
    /// model's "query" prompt when it has one and the caller named no prompt.
    /// </summary>
    public EmbeddingMatrix EncodeQuery(IReadOnlyList<string> texts, EncodeOptions? options = null)
    {
        options ??= new EncodeOptions();
        return Encode(texts, options.PromptName is null && options.Prompt is null
            ? options with { PromptName = Config.SentenceTransformers.QueryPromptName } : options);
    }

    /// <summary>
    /// sentence-transformers' <c>encode_document</c>: the model's "document", "passage" or "corpus" prompt (the first
    /// it has) when the caller named no prompt.
    /// </summary>
    public EmbeddingMatrix EncodeDocument(IReadOnlyList<string> texts, EncodeOptions? options = null)
    {
        options ??= new EncodeOptions();
        return Encode(texts, options.PromptName is null && options.Prompt is null
            ? options with { PromptName = Config.SentenceTransformers.DocumentPromptName } : options);
    }

    /// <summary>
    /// Width of the embeddings an encode call with <paramref name="truncateDim"/> returns (Matryoshka truncation keeps
    /// the first dimensions); null means <see cref="Dimension"/>.
    /// </summary>
    public int OutputDimension(int? truncateDim)
    {
        if (truncateDim is not int d) return Dimension;
        if (d < 1 || d > Dimension) throw new ManagedEmbedException($"truncate dimension {d} must be in [1, {Dimension}] (the model's dimension)");
        return d;
    }

    /// <summary>
    /// Embeds already-tokenized sequences (each including its special tokens, 1..MaxSequenceLength ids from the
    /// vocabulary). Returns [ids.Count, Dimension] in input order. Used by parity tests and benchmarks.
    /// </summary>
    public EmbeddingMatrix EncodeIds(IReadOnlyList<int[]> ids, int batchSize = 32, bool? normalize = null, IProgress<EncodeProgress>? progress = null) =>
        EncodeCore(ids, batchSize, normalize, Dimension, 0, progress, 0);

    /// <summary>
    /// Embeds already-tokenized sequences that may start with prompts: the first <paramref name="promptSkip"/>[i]
    /// tokens of sequence i are left out of its pool (see <see cref="PromptPoolSkip"/>; 0 keeps every token). Lets a
    /// server batch requests with different prompts together.
    /// </summary>
    public EmbeddingMatrix EncodeIds(IReadOnlyList<int[]> ids, IReadOnlyList<int> promptSkip, int batchSize = 32, bool? normalize = null)
    {
        ArgumentNullException.ThrowIfNull(promptSkip);
        if (ids is not null && promptSkip.Count != ids.Count) throw new ArgumentException($"{promptSkip.Count} prompt lengths for {ids.Count} sequences", nameof(promptSkip));
        if (promptSkip.Any(n => n < 0)) throw new ArgumentOutOfRangeException(nameof(promptSkip), "prompt lengths must not be negative");
        return EncodeCore(ids!, batchSize, normalize, Dimension, 0, null, 0, promptSkip);
    }

    private EmbeddingMatrix EncodeCore(IReadOnlyList<int[]> ids, int batchSize, bool? normalize, int outDim, int skip, IProgress<EncodeProgress>? progress, int truncated, IReadOnlyList<int>? skips = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(ids);
        if (batchSize < 1) throw new ManagedEmbedException($"batch size must be at least 1, got {batchSize}");
        var tc = Config.Transformer;
        for (int i = 0; i < ids.Count; i++)
        {
            var seq = ids[i] ?? throw new ArgumentNullException(nameof(ids), $"sequence {i} is null");
            if (seq.Length == 0) throw new ManagedEmbedException($"sequence {i} is empty (it needs at least [CLS] and [SEP])");
            if (seq.Length > tc.MaxSequenceLength)
                throw new ManagedEmbedException(tc.PositionOffset == 0
                    ? $"sequence {i} has {seq.Length} tokens, more than max_position_embeddings {tc.MaxPositionEmbeddings}"
                    : $"sequence {i} has {seq.Length} tokens, more than the {tc.MaxSequenceLength} positions of max_position_embeddings {tc.MaxPositionEmbeddings}");
            foreach (int id in seq)
                if ((uint)id >= (uint)tc.VocabSize) throw new ManagedEmbedException($"sequence {i} has token id {id} outside the vocabulary [0, {tc.VocabSize})");
        }
        // The pipeline's Normalize module runs unless the caller turns normalization off; normalize true also
        // normalizes the final (possibly truncated) vector, as normalize_embeddings=True does after truncate_dim.
        var post = new PostProcessing(Pipeline: normalize != false && NormalizesByDefault, Final: normalize == true, outDim, skip, skips);
        var output = new float[(long)ids.Count * outDim];

        // Longest first (as sentence-transformers does); batches are consecutive runs of that order, so each batch
        // holds texts of similar length. Within a batch sequences are packed without padding (see TokenBatch).
        int[] order = Enumerable.Range(0, ids.Count).ToArray();
        Array.Sort(order, (a, b) => ids[b].Length != ids[a].Length ? ids[b].Length.CompareTo(ids[a].Length) : a.CompareTo(b));
        int batchCount = (ids.Count + batchSize - 1) / batchSize;
        int completed = 0;

        void RunBatch(int bi)
        {
            int start = bi * batchSize, end = Math.Min(ids.Count, start + batchSize);
            var seqs = new int[end - start][];
            for (int i = start; i < end; i++) seqs[i - start] = ids[order[i]];
            var batch = new TokenBatch(seqs);
            var ws = RentWorkspace();
            try
            {
                _model.Forward(batch, ws, _pool);
                PoolBatch(batch, ws, order.AsSpan(start, end - start), output, post);
            }
            finally { _workspaces.Add(ws); }
            int done = Interlocked.Add(ref completed, end - start);
            progress?.Report(new EncodeProgress(done, ids.Count, truncated));
        }

        // Batches run one after another; the threads work inside each forward pass (kernel-level parallelism), which
        // keeps one workspace warm and serves batch 1 as well as large batches. Concurrent callers share the pool;
        // a caller finding it busy runs its kernels on its own thread.
        for (int bi = 0; bi < batchCount; bi++) RunBatch(bi);
        return new EmbeddingMatrix(ids.Count, outDim, output);
    }

    /// <summary>Embeds one tokenized sequence (see <see cref="EncodeIds(IReadOnlyList{int[]}, int, bool?, IProgress{EncodeProgress}?)"/>).</summary>
    public float[] EncodeIds(int[] ids, bool? normalize = null) => EncodeIds([ids], 1, normalize).Data;

    /// <summary>What follows pooling: the Normalize module, Matryoshka truncation, a final normalize, and the prompt tokens to leave out.</summary>
    private readonly record struct PostProcessing(bool Pipeline, bool Final, int OutDim, int Skip, IReadOnlyList<int>? Skips);

    private void PoolBatch(TokenBatch batch, EncoderWorkspace ws, ReadOnlySpan<int> rows, float[] output, PostProcessing post)
    {
        int h = Config.Transformer.HiddenSize;
        float[]? full = post.OutDim == Dimension ? null : new float[Dimension];
        for (int s = 0; s < batch.Count; s++)
        {
            var tokens = ws.Hidden.AsSpan(batch.Offsets[s] * h, batch.Lengths[s] * h);
            var dst = output.AsSpan(rows[s] * post.OutDim, post.OutDim);
            int skip = post.Skips?[rows[s]] ?? post.Skip;
            if (full is null)
            {
                SentencePooling.Pool(tokens, batch.Lengths[s], h, Config.Pooling, dst, skip);
                if (post.Pipeline || post.Final) VectorMath.L2Normalize(dst);
                continue;
            }
            // sentence-transformers truncates after the whole pipeline (Normalize included) and re-normalizes only
            // when asked: a truncated unit vector is not a unit vector.
            SentencePooling.Pool(tokens, batch.Lengths[s], h, Config.Pooling, full, skip);
            if (post.Pipeline) VectorMath.L2Normalize(full);
            full.AsSpan(0, post.OutDim).CopyTo(dst);
            if (post.Final) VectorMath.L2Normalize(dst);
        }
    }

    private EncoderWorkspace RentWorkspace() => _workspaces.TryTake(out var ws) ? ws : new EncoderWorkspace();

    /// <summary>Releases the memory-mapped weights.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_pool != KernelThreadPool.Serial) _pool.Dispose();
        _model.Dispose();
    }
}
