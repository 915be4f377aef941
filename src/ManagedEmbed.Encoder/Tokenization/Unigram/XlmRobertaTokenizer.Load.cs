using System.Text.Json;

namespace ManagedEmbed.Encoder.Tokenization.Unigram;

public sealed partial class XlmRobertaTokenizer
{
    /// <summary>Tokenizer classes that tokenize XLM-R's SentencePiece model with the rules implemented here.</summary>
    private static readonly string[] SupportedTokenizerClasses =
        ["XLMRobertaTokenizer", "XLMRobertaTokenizerFast", "PreTrainedTokenizerFast"];

    /// <summary>Largest accepted tokenizer.json (the real paraphrase-multilingual one is 9 MB).</summary>
    private const long MaxJsonBytes = 512L << 20;

    /// <summary>
    /// Loads the tokenizer of a model directory: tokenizer.json when present (what HF's AutoTokenizer uses), else
    /// sentencepiece.bpe.model with the optional tokenizer_config.json.
    /// </summary>
    /// <exception cref="ManagedEmbedException">The directory or both files are missing, or a file is malformed.</exception>
    public static XlmRobertaTokenizer Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        if (!Directory.Exists(modelDirectory)) throw new ManagedEmbedException($"model directory not found: {modelDirectory}");
        string json = Path.Combine(modelDirectory, "tokenizer.json");
        if (File.Exists(json)) return LoadTokenizerJson(json);
        string model = Path.Combine(modelDirectory, "sentencepiece.bpe.model");
        if (!File.Exists(model))
            throw new ManagedEmbedException($"no tokenizer in {modelDirectory}: expected tokenizer.json or sentencepiece.bpe.model");
        string config = Path.Combine(modelDirectory, "tokenizer_config.json");
        return LoadSentencePieceModel(model, File.Exists(config) ? config : null);
    }

    /// <summary>
    /// Loads XLM-R's <c>sentencepiece.bpe.model</c> (despite the name, a Unigram model) and maps it to HF ids: the
    /// model's &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; (SentencePiece ids 0, 1, 2) become 3, 0, 2, &lt;pad&gt; is 1, piece i
    /// (i ≥ 3) becomes i + 1 and &lt;mask&gt; is appended.
    /// </summary>
    /// <param name="modelPath">The .model file.</param>
    /// <param name="tokenizerConfigPath">Optional tokenizer_config.json: its tokenizer_class (if any) must be an XLM-R
    /// or PreTrainedTokenizerFast class and its special-token names the XLM-R ones. do_lower_case is ignored, as the
    /// HF XLM-R tokenizers ignore it.</param>
    /// <exception cref="ManagedEmbedException">A file is missing or malformed, or the model is not an XLM-R style
    /// Unigram model.</exception>
    public static XlmRobertaTokenizer LoadSentencePieceModel(string modelPath, string? tokenizerConfigPath = null)
    {
        SentencePieceModelProto proto = SentencePieceModelProto.Load(modelPath);
        if (tokenizerConfigPath is not null) CheckConfig(tokenizerConfigPath);
        return FromModelProto(proto, modelPath);
    }

    /// <summary>Builds the tokenizer from a parsed model (see <see cref="LoadSentencePieceModel"/> for the id mapping).</summary>
    /// <param name="proto">The parsed model.</param>
    /// <param name="source">A name for error messages.</param>
    /// <exception cref="ManagedEmbedException">The model is not an XLM-R style Unigram model.</exception>
    public static XlmRobertaTokenizer FromModelProto(SentencePieceModelProto proto, string source = "SentencePiece model")
    {
        ArgumentNullException.ThrowIfNull(proto);
        if (proto.ModelType != 1)
            throw new ManagedEmbedException($"{source}: model_type {proto.ModelType} is not supported (Unigram = 1 only)");
        if (proto.ByteFallback) throw new ManagedEmbedException($"{source}: byte_fallback models are not supported");
        if (proto.TreatWhitespaceAsSuffix) throw new ManagedEmbedException($"{source}: treat_whitespace_as_suffix is not supported");
        var p = proto.Pieces;
        if (p.Count < 4 || proto.UnkId != 0 || proto.BosId != 1 || proto.EosId != 2
            || p[0].Type != SentencePieceType.Unknown || p[1].Type != SentencePieceType.Control || p[2].Type != SentencePieceType.Control)
            throw new ManagedEmbedException($"{source}: not an XLM-R layout (expected the unknown piece at 0 and control <s>, </s> at 1, 2; unk_id={proto.UnkId} bos_id={proto.BosId} eos_id={proto.EosId})");

        var vocab = new List<(string, float, SentencePieceType)>(p.Count + 2)
        {
            ("<s>", 0f, SentencePieceType.Control),
            ("<pad>", 0f, SentencePieceType.Control),
            ("</s>", 0f, SentencePieceType.Control),
            ("<unk>", 0f, SentencePieceType.Unknown),
        };
        for (int i = 3; i < p.Count; i++)
        {
            if (p[i].Type is SentencePieceType.Unknown or SentencePieceType.Byte)
                throw new ManagedEmbedException($"{source}: piece {i} \"{p[i].Piece}\" has type {p[i].Type}, not supported after the first three pieces");
            vocab.Add((p[i].Piece, p[i].Score, p[i].Type));
        }
        vocab.Add(("<mask>", 0f, SentencePieceType.Control));

        PrecompiledCharsmap? charsmap = ParseCharsmap(proto.Normalizer.PrecompiledCharsmap, source);
        var n = proto.Normalizer;
        var normalizer = new SentencePieceNormalizer(charsmap, n.AddDummyPrefix, n.RemoveExtraWhitespaces, n.EscapeWhitespaces);
        return Build(vocab, unkId: 3, normalizer, bos: 0, eos: 2, pad: 1, mask: vocab.Count - 1, source);
    }

    /// <summary>
    /// Loads a Hugging Face tokenizer.json with a Unigram model (e.g. paraphrase-multilingual-MiniLM-L12-v2's). The
    /// pipeline is read with SentencePiece's semantics, the rules its converter follows: normalizer = Precompiled
    /// (or absent, or a Sequence holding only Precompiled); pre_tokenizer = [WhitespaceSplit →
    /// remove_extra_whitespaces] + Metaspace("▁", add_prefix_space / prepend_scheme → add_dummy_prefix); special
    /// added tokens never match text; &lt;s&gt; and &lt;/s&gt; frame the output as the XLM-R post-processor does.
    /// </summary>
    /// <exception cref="ManagedEmbedException">The file is missing, not JSON, or uses a model, normalizer or
    /// pre-tokenizer this tokenizer does not implement; the message names the file.</exception>
    public static XlmRobertaTokenizer LoadTokenizerJson(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using JsonDocument doc = ParseJson(path);
        try
        {
            return FromTokenizerJson(doc.RootElement, path);
        }
        catch (InvalidOperationException e)   // JsonElement accessors on an unexpected kind
        {
            throw new ManagedEmbedException($"{path}: unexpected JSON structure ({e.Message})", e);
        }
    }

    private static XlmRobertaTokenizer FromTokenizerJson(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{path}: expected a JSON object");
        JsonElement model = Required(root, "model", JsonValueKind.Object, path);
        string type = Required(model, "type", JsonValueKind.String, path, "model.").GetString()!;
        if (type != "Unigram") throw new ManagedEmbedException($"{path}: model type \"{type}\" is not supported (expected Unigram)");
        if (model.TryGetProperty("byte_fallback", out JsonElement bf) && bf.ValueKind == JsonValueKind.True)
            throw new ManagedEmbedException($"{path}: byte_fallback Unigram models are not supported");
        JsonElement unkEl = Required(model, "unk_id", JsonValueKind.Number, path, "model.");
        JsonElement vocabEl = Required(model, "vocab", JsonValueKind.Array, path, "model.");

        var special = new HashSet<int>();
        if (root.TryGetProperty("added_tokens", out JsonElement added) && added.ValueKind == JsonValueKind.Array)
            foreach (JsonElement t in added.EnumerateArray())
                if (t.ValueKind == JsonValueKind.Object && t.TryGetProperty("special", out JsonElement s) && s.ValueKind == JsonValueKind.True
                    && t.TryGetProperty("id", out JsonElement id) && id.TryGetInt32(out int sid))
                    special.Add(sid);

        int count = vocabEl.GetArrayLength();
        if (!unkEl.TryGetInt32(out int unkId) || unkId < 0 || unkId >= count)
            throw new ManagedEmbedException($"{path}: model.unk_id {unkEl} is not an id of the {count}-entry vocabulary");
        var vocab = new List<(string, float, SentencePieceType)>(count);
        int index = 0;
        foreach (JsonElement e in vocabEl.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() != 2 || e[0].ValueKind != JsonValueKind.String
                || e[1].ValueKind != JsonValueKind.Number || !float.IsFinite(e[1].GetSingle()))
                throw new ManagedEmbedException($"{path}: model.vocab[{index}] must be [piece, finite score]");
            var kind = index == unkId ? SentencePieceType.Unknown
                : special.Contains(index) ? SentencePieceType.Control : SentencePieceType.Normal;
            // Scores are float32 values printed as doubles: GetSingle rounds them back to the model's float.
            vocab.Add((e[0].GetString()!, e[1].GetSingle(), kind));
            index++;
        }

        PrecompiledCharsmap? charsmap = null;
        if (root.TryGetProperty("normalizer", out JsonElement norm) && norm.ValueKind != JsonValueKind.Null)
            charsmap = ReadNormalizer(norm, path);

        bool removeExtra = false, addPrefix = false, sawMetaspace = false;
        if (!root.TryGetProperty("pre_tokenizer", out JsonElement pre) || pre.ValueKind == JsonValueKind.Null)
            throw new ManagedEmbedException($"{path}: missing \"pre_tokenizer\" (expected Metaspace, optionally after WhitespaceSplit)");
        foreach (JsonElement step in Flatten(pre, "pretokenizers", path))
        {
            string stepType = Required(step, "type", JsonValueKind.String, path, "pre_tokenizer.").GetString()!;
            switch (stepType)
            {
                case "WhitespaceSplit" when !sawMetaspace && !removeExtra:
                    removeExtra = true;
                    break;
                case "Metaspace" when !sawMetaspace:
                    sawMetaspace = true;
                    if (step.TryGetProperty("replacement", out JsonElement rep) && rep.GetString() != "\u2581")
                        throw new ManagedEmbedException($"{path}: Metaspace replacement {rep} is not supported (expected \"\u2581\")");
                    addPrefix = MetaspacePrefix(step, path);
                    break;
                default:
                    throw new ManagedEmbedException($"{path}: pre_tokenizer \"{stepType}\" is not supported here (expected [WhitespaceSplit,] Metaspace)");
            }
        }
        if (!sawMetaspace) throw new ManagedEmbedException($"{path}: the pre_tokenizer has no Metaspace step");

        int bos = Find(vocab, "<s>"), eos = Find(vocab, "</s>");
        if (bos < 0 || eos < 0) throw new ManagedEmbedException($"{path}: the vocabulary has no <s> or </s>");
        var normalizer = new SentencePieceNormalizer(charsmap, addPrefix, removeExtra, escapeWhitespaces: true);
        return Build(vocab, unkId, normalizer, bos, eos, Find(vocab, "<pad>"), Find(vocab, "<mask>"), path);
    }

    private static int Find(List<(string Piece, float, SentencePieceType)> vocab, string piece) =>
        vocab.FindIndex(v => v.Piece == piece);

    private static bool MetaspacePrefix(JsonElement step, string path)
    {
        if (step.TryGetProperty("prepend_scheme", out JsonElement scheme) && scheme.ValueKind == JsonValueKind.String)
            return scheme.GetString() switch
            {
                "always" or "first" => true,   // identical for a single sequence
                "never" => false,
                var s => throw new ManagedEmbedException($"{path}: Metaspace prepend_scheme \"{s}\" is not supported"),
            };
        if (step.TryGetProperty("add_prefix_space", out JsonElement add))
            return add.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw new ManagedEmbedException($"{path}: Metaspace add_prefix_space must be true or false"),
            };
        return true;   // the tokenizers default
    }

    private static PrecompiledCharsmap? ReadNormalizer(JsonElement norm, string path)
    {
        PrecompiledCharsmap? charsmap = null;
        foreach (JsonElement step in Flatten(norm, "normalizers", path))
        {
            string t = Required(step, "type", JsonValueKind.String, path, "normalizer.").GetString()!;
            if (t != "Precompiled" || charsmap is not null)
                throw new ManagedEmbedException($"{path}: normalizer \"{t}\" is not supported (expected one Precompiled)");
            JsonElement b64 = Required(step, "precompiled_charsmap", JsonValueKind.String, path, "normalizer.");
            byte[] blob;
            try
            {
                blob = Convert.FromBase64String(b64.GetString()!);
            }
            catch (FormatException e)
            {
                throw new ManagedEmbedException($"{path}: normalizer.precompiled_charsmap is not valid base64", e);
            }
            charsmap = ParseCharsmap(blob, path);
        }
        return charsmap;
    }

    /// <summary>A Sequence's steps, or the element itself.</summary>
    private static IEnumerable<JsonElement> Flatten(JsonElement e, string listName, string path)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{path}: expected an object, got {e.ValueKind}");
        if (e.TryGetProperty("type", out JsonElement t) && t.ValueKind == JsonValueKind.String && t.GetString() == "Sequence")
        {
            JsonElement list = Required(e, listName, JsonValueKind.Array, path, "Sequence.");
            return list.EnumerateArray().ToList();
        }
        return [e];
    }

    private static PrecompiledCharsmap? ParseCharsmap(byte[] blob, string source)
    {
        if (blob.Length == 0) return null;
        try
        {
            return PrecompiledCharsmap.Parse(blob);
        }
        catch (ManagedEmbedException e)
        {
            throw new ManagedEmbedException($"{source}: {e.Message}", e);
        }
    }

    private static XlmRobertaTokenizer Build(List<(string Piece, float Score, SentencePieceType Type)> vocab, int unkId,
        SentencePieceNormalizer normalizer, int bos, int eos, int pad, int mask, string source)
    {
        UnigramModel model;
        try
        {
            model = new UnigramModel(vocab, unkId);
        }
        catch (ArgumentException e)
        {
            throw new ManagedEmbedException($"{source}: {e.Message}", e);
        }
        return new XlmRobertaTokenizer([.. vocab.Select(v => v.Piece)], model, normalizer, bos, eos, pad, mask);
    }

    private static JsonElement Required(JsonElement obj, string name, JsonValueKind kind, string path, string prefix = "")
    {
        if (obj.ValueKind != JsonValueKind.Object || !obj.TryGetProperty(name, out JsonElement v))
            throw new ManagedEmbedException($"{path}: missing \"{prefix}{name}\"");
        if (v.ValueKind != kind) throw new ManagedEmbedException($"{path}: \"{prefix}{name}\" must be {kind}, got {v.ValueKind}");
        return v;
    }

    private static JsonDocument ParseJson(string path)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new ManagedEmbedException($"file not found: {path}");
            if (info.Length > MaxJsonBytes) throw new ManagedEmbedException($"{path}: {info.Length} bytes is larger than the {MaxJsonBytes}-byte limit");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManagedEmbedException($"cannot read {path}: {e.Message}", e);
        }
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new ManagedEmbedException($"{path} is not valid JSON: {e.Message.Split('\n')[0].Trim()}", e);
        }
    }

    private static readonly (string Key, string Expected)[] XlmRobertaSpecials =
        [("bos_token", "<s>"), ("cls_token", "<s>"), ("eos_token", "</s>"), ("sep_token", "</s>"), ("unk_token", "<unk>"),
         ("pad_token", "<pad>"), ("mask_token", "<mask>")];

    private static void CheckConfig(string path)
    {
        using JsonDocument doc = ParseJson(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{path}: expected a JSON object");
        if (root.TryGetProperty("tokenizer_class", out JsonElement cls) && cls.ValueKind != JsonValueKind.Null
            && !(cls.ValueKind == JsonValueKind.String && SupportedTokenizerClasses.Contains(cls.GetString())))
            throw new ManagedEmbedException($"{path}: tokenizer_class {cls} is not supported (expected one of {string.Join(", ", SupportedTokenizerClasses)})");
        foreach ((string key, string expected) in XlmRobertaSpecials)
        {
            if (!root.TryGetProperty(key, out JsonElement v) || v.ValueKind == JsonValueKind.Null) continue;
            string? name = v.ValueKind == JsonValueKind.String ? v.GetString()
                : v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out JsonElement c) && c.ValueKind == JsonValueKind.String ? c.GetString()
                : null;
            if (name != expected)
                throw new ManagedEmbedException($"{path}: \"{key}\" is {v}, but the XLM-R id layout needs \"{expected}\"");
        }
    }
}
