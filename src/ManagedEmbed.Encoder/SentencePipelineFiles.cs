using System.Text;
using ManagedEmbed.Encoder.Pooling;

namespace ManagedEmbed.Encoder;

/// <summary>Settings of the sentence-transformers pipeline files of a BERT model directory.</summary>
public sealed class SentencePipelineOptions
{
    /// <summary>hidden_size of the model (the pooling input width).</summary>
    public required int HiddenSize { get; init; }
    /// <summary>max_position_embeddings (written as the tokenizer's model_max_length).</summary>
    public required int MaxPositionEmbeddings { get; init; }
    /// <summary>Pooling mode(s).</summary>
    public required PoolingMode Pooling { get; init; }
    /// <summary>sentence_bert_config.json max_seq_length.</summary>
    public required int MaxSeqLength { get; init; }
    /// <summary>Whether modules.json lists a Normalize module.</summary>
    public bool Normalize { get; init; } = true;
    /// <summary>tokenizer_config.json do_lower_case (uncased models: true).</summary>
    public bool DoLowerCase { get; init; } = true;
    /// <summary>config.json model_type: decides the tokenizer class and special tokens written (default bert).</summary>
    public string Architecture { get; init; } = "bert";
}

/// <summary>
/// The files that make a transformer checkpoint a sentence-transformers model directory: tokenizer_config.json,
/// special_tokens_map.json, sentence_bert_config.json, modules.json (Transformer → Pooling [→ Normalize]) and
/// 1_Pooling/config.json. Shared by <see cref="SyntheticModel"/> and the ONNX importer so both write the same layout.
/// </summary>
public static class SentencePipelineFiles
{
    /// <summary>The special tokens the vocabulary of a model of <paramref name="architecture"/> must hold.</summary>
    public static IReadOnlyList<string> SpecialTokens(string architecture) =>
        architecture == "mpnet" ? ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"] : ["[PAD]", "[UNK]", "[CLS]", "[SEP]"];

    /// <summary>The files as (path relative to the model directory with '/' separators, UTF-8 text).</summary>
    public static IReadOnlyList<(string Path, string Text)> Render(SentencePipelineOptions o)
    {
        if (o.Pooling == PoolingMode.None) throw new ManagedEmbedException("no pooling mode given");
        static string B(bool b) => b ? "true" : "false";
        // MPNet: the published all-mpnet-base-v2 settings (RoBERTa-style specials around a BERT WordPiece vocabulary,
        // [UNK] as WordPiece's unknown); BERT and DistilBERT: BERT's.
        var (tokenizerConfig, specialTokens) = o.Architecture == "mpnet"
            ? ("{\"do_lower_case\": " + B(o.DoLowerCase) + ", \"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"sep_token\": \"</s>\", \"cls_token\": \"<s>\", \"unk_token\": \"[UNK]\", \"pad_token\": \"<pad>\", \"mask_token\": \"<mask>\", \"tokenize_chinese_chars\": true, \"strip_accents\": null, \"tokenizer_class\": \"MPNetTokenizer\", \"model_max_length\": " + (o.MaxPositionEmbeddings - 2) + "}\n",
               "{\"bos_token\": \"<s>\", \"eos_token\": \"</s>\", \"unk_token\": \"[UNK]\", \"sep_token\": \"</s>\", \"pad_token\": \"<pad>\", \"cls_token\": \"<s>\", \"mask_token\": \"<mask>\"}\n")
            : ("{\"do_lower_case\": " + B(o.DoLowerCase) + ", \"unk_token\": \"[UNK]\", \"sep_token\": \"[SEP]\", \"pad_token\": \"[PAD]\", \"cls_token\": \"[CLS]\", \"mask_token\": \"[MASK]\", \"tokenize_chinese_chars\": true, \"strip_accents\": null, \"tokenizer_class\": \"" + (o.Architecture == "distilbert" ? "DistilBertTokenizer" : "BertTokenizer") + "\", \"model_max_length\": " + o.MaxPositionEmbeddings + "}\n",
               "{\"unk_token\": \"[UNK]\", \"sep_token\": \"[SEP]\", \"pad_token\": \"[PAD]\", \"cls_token\": \"[CLS]\", \"mask_token\": \"[MASK]\"}\n");
        var files = new List<(string, string)>
        {
            ("tokenizer_config.json", tokenizerConfig),
            ("special_tokens_map.json", specialTokens),
            ("sentence_bert_config.json", "{\n  \"max_seq_length\": " + o.MaxSeqLength + ",\n  \"do_lower_case\": false\n}\n"),
        };
        var modules = new StringBuilder();
        modules.Append("[\n  {\n    \"idx\": 0,\n    \"name\": \"0\",\n    \"path\": \"\",\n    \"type\": \"sentence_transformers.models.Transformer\"\n  },\n");
        modules.Append("  {\n    \"idx\": 1,\n    \"name\": \"1\",\n    \"path\": \"1_Pooling\",\n    \"type\": \"sentence_transformers.models.Pooling\"\n  }");
        if (o.Normalize) modules.Append(",\n  {\n    \"idx\": 2,\n    \"name\": \"2\",\n    \"path\": \"2_Normalize\",\n    \"type\": \"sentence_transformers.models.Normalize\"\n  }");
        modules.Append("\n]\n");
        files.Add(("modules.json", modules.ToString()));
        files.Add(("1_Pooling/config.json",
            "{\n  \"word_embedding_dimension\": " + o.HiddenSize +
            ",\n  \"pooling_mode_cls_token\": " + B(o.Pooling.HasFlag(PoolingMode.Cls)) +
            ",\n  \"pooling_mode_mean_tokens\": " + B(o.Pooling.HasFlag(PoolingMode.Mean)) +
            ",\n  \"pooling_mode_max_tokens\": " + B(o.Pooling.HasFlag(PoolingMode.Max)) +
            ",\n  \"pooling_mode_mean_sqrt_len_tokens\": " + B(o.Pooling.HasFlag(PoolingMode.MeanSqrtLen)) + "\n}\n"));
        return files;
    }
}
