using System.Text;
using System.Text.Json;

namespace ManagedEmbed.Encoder.Tokenization;

public sealed partial class BertTokenizer
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Loads the tokenizer of a Hugging Face / sentence-transformers model directory.
    /// </summary>
    /// <remarks>
    /// The vocabulary comes from vocab.txt (one token per line, id = line number), or, when vocab.txt is absent,
    /// from the WordPiece model in tokenizer.json. tokenizer_config.json (optional; HF defaults when absent) supplies
    /// do_lower_case (default true), strip_accents (null = follow do_lower_case), tokenize_chinese_chars (default
    /// true) and the unk/cls/sep/pad/mask token names, as HF's BertTokenizer(Fast) reads them. A tokenizer_class
    /// other than (DistilBert|Bert|MPNet)Tokenizer(Fast) is rejected rather than tokenized with the wrong rules.
    /// </remarks>
    /// <exception cref="ManagedEmbedException">The directory or vocabulary is missing, a file is not valid UTF-8 or
    /// JSON, or a setting has the wrong type; the message names the file.</exception>
    public static BertTokenizer Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        if (!Directory.Exists(modelDirectory))
            throw new ManagedEmbedException($"model directory not found: {modelDirectory}");

        string configPath = Path.Combine(modelDirectory, "tokenizer_config.json");
        var options = File.Exists(configPath) ? ReadConfig(configPath) : new BertTokenizerOptions();

        string vocabPath = Path.Combine(modelDirectory, "vocab.txt");
        string jsonPath = Path.Combine(modelDirectory, "tokenizer.json");
        string source;
        string[] vocab;
        if (File.Exists(vocabPath))
        {
            source = vocabPath;
            vocab = ReadVocabTxt(vocabPath);
        }
        else if (File.Exists(jsonPath))
        {
            source = jsonPath;
            vocab = ReadTokenizerJson(jsonPath, ref options);
        }
        else
            throw new ManagedEmbedException($"no vocabulary in {modelDirectory}: expected vocab.txt or tokenizer.json");

        // Added tokens: tokenizer.json's list is what HF's fast tokenizer matches; without one, a newer
        // tokenizer_config.json's added_tokens_decoder carries the same entries.
        var addedTokens = File.Exists(jsonPath) ? ReadAddedTokens(jsonPath)
            : File.Exists(configPath) ? ReadAddedTokensDecoder(configPath) : [];
        if (addedTokens.Count > 0) options = With(options, addedTokens);

        try
        {
            // Name the framing when it is not BERT's (MPNet: <s> … </s>), so `membed info` shows what the model uses.
            string framing = options.ClsToken == "[CLS]" && options.SepToken == "[SEP]" ? "" : $"; {options.ClsToken} … {options.SepToken}";
            string casing = options.LowerCase ? "lowercase" : "cased";
            return new BertTokenizer(vocab, options, owned: true) { Description = $"WordPiece ({Path.GetFileName(source)}, {casing}{framing})" };
        }
        catch (ArgumentException e)
        {
            throw new ManagedEmbedException($"{source}: {FirstLine(WithoutParameterName(e))}", e);
        }
    }

    private static BertTokenizerOptions With(BertTokenizerOptions o, IReadOnlyList<BertAddedToken> added) => new()
    {
        LowerCase = o.LowerCase, StripAccents = o.StripAccents, TokenizeChineseChars = o.TokenizeChineseChars,
        UnknownToken = o.UnknownToken, ClsToken = o.ClsToken, SepToken = o.SepToken, PadToken = o.PadToken, MaskToken = o.MaskToken,
        ContinuingSubwordPrefix = o.ContinuingSubwordPrefix, MaxInputCharsPerWord = o.MaxInputCharsPerWord,
        LowercaseFinalSigma = o.LowercaseFinalSigma, RecognizeSpecialTokensInText = o.RecognizeSpecialTokensInText, AddedTokens = added,
    };

    /// <summary>tokenizer.json's top-level "added_tokens", read without materializing the (large) vocabulary.</summary>
    private static List<BertAddedToken> ReadAddedTokens(string path)
    {
        byte[] bytes = ReadAll(path);
        var list = new List<BertAddedToken>();
        try
        {
            var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return list; // ReadTokenizerJson/registry report it
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                bool isAdded = reader.ValueTextEquals("added_tokens"u8);
                reader.Read();
                if (!isAdded || reader.TokenType != JsonTokenType.StartArray)
                {
                    reader.Skip();
                    continue;
                }
                using var doc = JsonDocument.ParseValue(ref reader);
                int i = 0;
                foreach (JsonElement e in doc.RootElement.EnumerateArray())
                {
                    int id = e.ValueKind == JsonValueKind.Object && e.TryGetProperty("id", out JsonElement v) && v.TryGetInt32(out int x) ? x
                        : throw new ManagedEmbedException($"{path}: added_tokens[{i}] has no integer \"id\"");
                    list.Add(AddedToken(e, id, $"added_tokens[{i}]", path));
                    i++;
                }
                break;
            }
        }
        catch (JsonException e)
        {
            throw new ManagedEmbedException($"{path} is not valid JSON: {FirstLine(e.Message)}", e);
        }
        return list;
    }

    /// <summary>tokenizer_config.json's "added_tokens_decoder" (id → AddedToken), written by transformers ≥ 4.34.</summary>
    private static List<BertAddedToken> ReadAddedTokensDecoder(string path)
    {
        using JsonDocument doc = ParseJson(path);
        var list = new List<BertAddedToken>();
        if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("added_tokens_decoder", out JsonElement d)
            || d.ValueKind == JsonValueKind.Null)
            return list;
        if (d.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{path}: \"added_tokens_decoder\" must be an object");
        foreach (JsonProperty p in d.EnumerateObject())
        {
            if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id))
                throw new ManagedEmbedException($"{path}: added_tokens_decoder key \"{p.Name}\" is not an id");
            list.Add(AddedToken(p.Value, id, $"added_tokens_decoder[\"{p.Name}\"]", path));
        }
        return list;
    }

    /// <summary>One AddedToken object. "normalized" defaults to !special, as in the tokenizers library.</summary>
    private static BertAddedToken AddedToken(JsonElement e, int id, string where, string path)
    {
        if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty("content", out JsonElement c) || c.ValueKind != JsonValueKind.String
            || c.GetString() is not { Length: > 0 } content)
            throw new ManagedEmbedException($"{path}: {where} has no non-empty \"content\"");
        bool special = Bool(e, "special", path) ?? false;
        // single_word would need word-boundary checks that no BERT-family model uses; refuse rather than mis-tokenize.
        if (Bool(e, "single_word", path) == true)
            throw new ManagedEmbedException($"{path}: {where} (\"{content}\") has single_word true, which is not supported");
        // lstrip/rstrip only move whitespace into the token's span; BERT pre-tokenization drops that whitespace anyway.
        return new BertAddedToken(content, id, Bool(e, "normalized", path) ?? !special);
    }

    /// <summary>Tokenizer classes whose slow and fast versions follow exactly the BERT rules implemented here.</summary>
    private static readonly string[] SupportedTokenizerClasses =
        ["BertTokenizer", "BertTokenizerFast", "DistilBertTokenizer", "DistilBertTokenizerFast", "MPNetTokenizer", "MPNetTokenizerFast"];

    private static string FirstLine(string s) => s.Split('\n')[0].Trim();

    /// <summary>The message without .NET's " (Parameter 'vocabulary')" suffix, which means nothing to a user naming a file.</summary>
    private static string WithoutParameterName(ArgumentException e)
    {
        string suffix = e.ParamName is null ? "" : $" (Parameter '{e.ParamName}')";
        return suffix.Length > 0 && e.Message.EndsWith(suffix, StringComparison.Ordinal) ? e.Message[..^suffix.Length] : e.Message;
    }

    private static byte[] ReadAll(string path)
    {
        try
        {
            return InputFile.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManagedEmbedException($"cannot read {path}: {e.Message}", e);
        }
    }

    /// <summary>vocab.txt as Python's load_vocab reads it: lines split at \n, \r\n or \r, id = line index.</summary>
    /// <remarks>Each line is decoded straight from the file's bytes into an array of the exact line count: no
    /// whole-file string and no growing list, which at 30k lines are large-object allocations that, with the
    /// tables, would cost a cold start a full garbage collection.</remarks>
    private static string[] ReadVocabTxt(string path)
    {
        byte[] bytes = ReadAll(path);
        if (!System.Text.Unicode.Utf8.IsValid(bytes)) throw new ManagedEmbedException($"{path} is not valid UTF-8");
        ReadOnlySpan<byte> text = bytes;
        int count = 0;
        for (int i = 0; i < text.Length; i++)
        {
            int k = text[i..].IndexOfAny((byte)'\n', (byte)'\r');
            if (k < 0) { count++; break; } // a last line without a line break
            i += k;
            if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n') i++;
            count++;
        }
        if (count == 0) throw new ManagedEmbedException($"{path} is empty");
        var lines = new string[count];
        int start = 0;
        for (int n = 0; n < count; n++)
        {
            int k = text[start..].IndexOfAny((byte)'\n', (byte)'\r');
            int end = k < 0 ? text.Length : start + k;
            lines[n] = Encoding.UTF8.GetString(text[start..end]);
            start = end + (end + 1 < text.Length && text[end] == '\r' && text[end + 1] == '\n' ? 2 : 1);
        }
        return lines;
    }

    private static JsonDocument ParseJson(string path)
    {
        byte[] bytes = ReadAll(path);
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow });
        }
        catch (JsonException e)
        {
            throw new ManagedEmbedException($"{path} is not valid JSON: {FirstLine(e.Message)}", e);
        }
    }

    private static BertTokenizerOptions ReadConfig(string path)
    {
        using JsonDocument doc = ParseJson(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) throw new ManagedEmbedException($"{path}: expected a JSON object");
        if (root.TryGetProperty("tokenizer_class", out JsonElement cls) && cls.ValueKind != JsonValueKind.Null)
        {
            string? name = cls.ValueKind == JsonValueKind.String ? cls.GetString() : null;
            if (name is null || !SupportedTokenizerClasses.Contains(name))
                throw new ManagedEmbedException($"{path}: tokenizer_class {cls} is not supported (BERT WordPiece tokenizers only: {string.Join(", ", SupportedTokenizerClasses)})");
        }
        var d = new BertTokenizerOptions();
        return new BertTokenizerOptions
        {
            LowerCase = Bool(root, "do_lower_case", path) ?? d.LowerCase,
            StripAccents = Bool(root, "strip_accents", path),
            TokenizeChineseChars = Bool(root, "tokenize_chinese_chars", path) ?? d.TokenizeChineseChars,
            UnknownToken = TokenName(root, "unk_token", path) ?? d.UnknownToken,
            ClsToken = TokenName(root, "cls_token", path) ?? d.ClsToken,
            SepToken = TokenName(root, "sep_token", path) ?? d.SepToken,
            PadToken = TokenName(root, "pad_token", path) ?? d.PadToken,
            MaskToken = TokenName(root, "mask_token", path) ?? d.MaskToken,
        };
    }

    private static bool? Bool(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ManagedEmbedException($"{path}: \"{name}\" must be true, false or null, got {v.ValueKind}"),
        };
    }

    /// <summary>A special-token setting: a string, or an AddedToken object with "content".</summary>
    private static string? TokenName(JsonElement obj, string name, string path)
    {
        if (!obj.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.String && v.GetString() is { Length: > 0 } s) return s;
        if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out JsonElement c)
            && c.ValueKind == JsonValueKind.String && c.GetString() is { Length: > 0 } cs)
            return cs;
        throw new ManagedEmbedException($"{path}: \"{name}\" must be a non-empty string or an object with \"content\"");
    }

    /// <summary>The WordPiece vocabulary (and prefix / word limit) of a tokenizers-library tokenizer.json.</summary>
    private static string[] ReadTokenizerJson(string path, ref BertTokenizerOptions options)
    {
        using JsonDocument doc = ParseJson(path);
        JsonElement root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out JsonElement model)
            || model.ValueKind != JsonValueKind.Object)
            throw new ManagedEmbedException($"{path}: missing \"model\" object");
        if (model.TryGetProperty("type", out JsonElement type) && !(type.ValueKind == JsonValueKind.String && type.GetString() == "WordPiece"))
            throw new ManagedEmbedException($"{path}: model type {type} is not supported (expected WordPiece)");
        if (!model.TryGetProperty("vocab", out JsonElement vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw new ManagedEmbedException($"{path}: missing \"model.vocab\" object");

        var byId = new List<(int Id, string Token)>();
        int max = -1;
        foreach (JsonProperty p in vocab.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0 || id >= 10_000_000)
                throw new ManagedEmbedException($"{path}: vocab entry \"{p.Name}\" has an invalid id {p.Value}");
            byId.Add((id, p.Name));
            max = Math.Max(max, id);
        }
        if (max < 0) throw new ManagedEmbedException($"{path}: \"model.vocab\" is empty");
        var tokens = new string[max + 1];
        Array.Fill(tokens, "");
        foreach ((int id, string token) in byId)
        {
            if (tokens[id].Length != 0)
                throw new ManagedEmbedException($"{path}: id {id} is used by both \"{tokens[id]}\" and \"{token}\"");
            tokens[id] = token;
        }

        string prefix = options.ContinuingSubwordPrefix;
        if (model.TryGetProperty("continuing_subword_prefix", out JsonElement pre) && pre.ValueKind != JsonValueKind.Null)
            prefix = pre.ValueKind == JsonValueKind.String && pre.GetString() is { Length: > 0 } ps ? ps
                : throw new ManagedEmbedException($"{path}: \"continuing_subword_prefix\" must be a non-empty string");
        int maxChars = options.MaxInputCharsPerWord;
        if (model.TryGetProperty("max_input_chars_per_word", out JsonElement mc) && mc.ValueKind != JsonValueKind.Null)
            maxChars = mc.ValueKind == JsonValueKind.Number && mc.TryGetInt32(out int m) && m > 0 ? m
                : throw new ManagedEmbedException($"{path}: \"max_input_chars_per_word\" must be a positive integer");
        string unk = options.UnknownToken;
        if (model.TryGetProperty("unk_token", out JsonElement u) && u.ValueKind == JsonValueKind.String && u.GetString() is { Length: > 0 } us)
            unk = us;

        options = new BertTokenizerOptions
        {
            LowerCase = options.LowerCase,
            StripAccents = options.StripAccents,
            TokenizeChineseChars = options.TokenizeChineseChars,
            UnknownToken = unk,
            ClsToken = options.ClsToken,
            SepToken = options.SepToken,
            PadToken = options.PadToken,
            MaskToken = options.MaskToken,
            ContinuingSubwordPrefix = prefix,
            MaxInputCharsPerWord = maxChars,
            LowercaseFinalSigma = options.LowercaseFinalSigma,
            RecognizeSpecialTokensInText = options.RecognizeSpecialTokensInText,
        };
        return tokens;
    }
}
