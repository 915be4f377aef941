using System.Text.Encodings.Web;
using System.Text.Json;

namespace ManagedEmbed.Encoder.Tokenization.Unigram;

/// <summary>
/// Converts an XLM-R style SentencePiece Unigram <c>.model</c> into a Hugging Face tokenizer.json, with the rules of
/// transformers' XLMRobertaConverter (tools/README.md lists them; tools/gen_unigram_fixtures.py is the Python twin).
/// </summary>
public static class SentencePieceConverter
{
    /// <summary>Converts <paramref name="modelPath"/> to a tokenizer.json at <paramref name="outputPath"/>.</summary>
    /// <param name="modelPath">The .model file (e.g. sentencepiece.bpe.model).</param>
    /// <param name="outputPath">The tokenizer.json to write (replaced if it exists).</param>
    /// <param name="maxLength">The truncation max_length recorded in the file.</param>
    /// <exception cref="ManagedEmbedException">The model is malformed or cannot be represented (see
    /// <see cref="WriteTokenizerJson"/>), or the output cannot be written.</exception>
    public static void ConvertModelFile(string modelPath, string outputPath, int maxLength = 128)
    {
        ArgumentNullException.ThrowIfNull(outputPath);
        SentencePieceModelProto proto = SentencePieceModelProto.Load(modelPath);
        try
        {
            using var output = File.Create(outputPath);
            WriteTokenizerJson(proto, output, maxLength, modelPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManagedEmbedException($"cannot write {outputPath}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Writes the tokenizer.json of an XLM-R layout Unigram model: vocab = &lt;s&gt; &lt;pad&gt; &lt;/s&gt; &lt;unk&gt;,
    /// pieces 3.., &lt;mask&gt;; unk_id 3; Precompiled normalizer (null without a charsmap); pre_tokenizer
    /// [WhitespaceSplit iff remove_extra_whitespaces] + Metaspace(add_prefix_space = add_dummy_prefix);
    /// post-processor &lt;s&gt; $A &lt;/s&gt;.
    /// </summary>
    /// <exception cref="ManagedEmbedException">The model is not an XLM-R layout Unigram model, uses byte fallback or
    /// unescaped whitespace, or has piece types tokenizer.json cannot carry (user-defined, unused, byte).</exception>
    public static void WriteTokenizerJson(SentencePieceModelProto proto, Stream output, int maxLength = 128, string source = "SentencePiece model")
    {
        ArgumentNullException.ThrowIfNull(proto);
        ArgumentNullException.ThrowIfNull(output);
        _ = XlmRobertaTokenizer.FromModelProto(proto, source);   // the same layout checks as loading
        if (!proto.Normalizer.EscapeWhitespaces) throw new ManagedEmbedException($"{source}: escape_whitespaces=false cannot be expressed in tokenizer.json");
        for (int i = 3; i < proto.Pieces.Count; i++)
            if (proto.Pieces[i].Type != SentencePieceType.Normal)
                throw new ManagedEmbedException($"{source}: piece {i} \"{proto.Pieces[i].Piece}\" is {proto.Pieces[i].Type}; tokenizer.json keeps no piece types");

        int maskId = proto.Pieces.Count + 1;
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteStartObject("truncation");
        w.WriteNumber("max_length", maxLength);
        w.WriteString("strategy", "LongestFirst");
        w.WriteNumber("stride", 0);
        w.WriteEndObject();
        w.WriteNull("padding");

        w.WriteStartArray("added_tokens");
        foreach ((int id, string content) in new[] { (0, "<s>"), (1, "<pad>"), (2, "</s>"), (3, "<unk>"), (maskId, "<mask>") })
        {
            w.WriteStartObject();
            w.WriteNumber("id", id);
            w.WriteBoolean("special", true);
            w.WriteString("content", content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", content == "<mask>");
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        var ns = proto.Normalizer;
        if (ns.PrecompiledCharsmap.Length == 0) w.WriteNull("normalizer");
        else
        {
            w.WriteStartObject("normalizer");
            w.WriteString("type", "Precompiled");
            w.WriteBase64String("precompiled_charsmap", ns.PrecompiledCharsmap);
            w.WriteEndObject();
        }

        w.WriteStartObject("pre_tokenizer");
        w.WriteString("type", "Sequence");
        w.WriteStartArray("pretokenizers");
        if (ns.RemoveExtraWhitespaces)
        {
            w.WriteStartObject();
            w.WriteString("type", "WhitespaceSplit");
            w.WriteEndObject();
        }
        WriteMetaspace(w, null, ns.AddDummyPrefix);
        w.WriteEndArray();
        w.WriteEndObject();

        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        w.WriteStartArray("single");
        WriteTemplatePiece(w, "SpecialToken", "<s>");
        WriteTemplatePiece(w, "Sequence", "A");
        WriteTemplatePiece(w, "SpecialToken", "</s>");
        w.WriteEndArray();
        w.WriteStartArray("pair");
        w.WriteEndArray();
        w.WriteStartObject("special_tokens");
        foreach ((string token, int id) in new[] { ("</s>", 2), ("<s>", 0) })
        {
            w.WriteStartObject(token);
            w.WriteString("id", token);
            w.WriteStartArray("ids");
            w.WriteNumberValue(id);
            w.WriteEndArray();
            w.WriteStartArray("tokens");
            w.WriteStringValue(token);
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteEndObject();

        WriteMetaspace(w, "decoder", true);

        w.WriteStartObject("model");
        w.WriteString("type", "Unigram");
        w.WriteNumber("unk_id", 3);
        w.WriteStartArray("vocab");
        foreach (string special in new[] { "<s>", "<pad>", "</s>", "<unk>" }) WriteEntry(w, special, 0f);
        for (int i = 3; i < proto.Pieces.Count; i++) WriteEntry(w, proto.Pieces[i].Piece, proto.Pieces[i].Score);
        WriteEntry(w, "<mask>", 0f);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteMetaspace(Utf8JsonWriter w, string? name, bool addPrefixSpace)
    {
        if (name is null) w.WriteStartObject();
        else w.WriteStartObject(name);
        w.WriteString("type", "Metaspace");
        w.WriteString("replacement", "\u2581");
        w.WriteBoolean("add_prefix_space", addPrefixSpace);
        w.WriteEndObject();
    }

    private static void WriteTemplatePiece(Utf8JsonWriter w, string kind, string id)
    {
        w.WriteStartObject();
        w.WriteStartObject(kind);
        w.WriteString("id", id);
        w.WriteNumber("type_id", 0);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteEntry(Utf8JsonWriter w, string piece, float score)
    {
        w.WriteStartArray();
        w.WriteStringValue(piece);
        w.WriteNumberValue((double)score);   // the float widened exactly, as Python's json writes it
        w.WriteEndArray();
    }
}
