using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder.Models;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>
/// all-mpnet-base-v2's added tokens, as Hugging Face's fast tokenizer (what sentence-transformers runs) matches them.
/// Its tokenizer.json (../shared/models/PUBLISHED-CONFIGS.md) lists &lt;s&gt; &lt;pad&gt; &lt;/s&gt; [UNK] &lt;mask&gt;
/// with normalized=false, matched on the raw text, and &lt;unk&gt; (id 3) with normalized=true, matched on the
/// BertNormalizer output (controls dropped, lowercased, accents stripped). The text around them is tokenized as
/// usual. Expected ids are written from those rules and looked up in the BERT vocabulary (MPNet id = BERT line + 4).
/// </summary>
public class MPNetAddedTokenTests
{
    // The "added_tokens" of the published all-mpnet-base-v2 tokenizer.json (Round1B / JaviCandia re-saves).
    private const string PublishedAddedTokens = """
        [{"id":0,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
         {"id":1,"content":"<pad>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
         {"id":2,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
         {"id":3,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":true,"special":true},
         {"id":104,"content":"[UNK]","single_word":false,"lstrip":false,"rstrip":false,"normalized":false,"special":true},
         {"id":30526,"content":"<mask>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false,"special":true}]
        """;

    // The published tokenizer_config.json (363 bytes, commit 58ae313).
    private const string PublishedTokenizerConfig = """{"do_lower_case": true, "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "[UNK]", "pad_token": "<pad>", "mask_token": "<mask>", "tokenize_chinese_chars": true, "strip_accents": null, "model_max_length": 512, "special_tokens_map_file": null, "name_or_path": "microsoft/mpnet-base", "tokenizer_class": "MPNetTokenizer"}""";

    private static readonly Lazy<string[]> BertVocab = new(() => File.ReadAllText(Path.Combine(TestPaths.MiniLm, "vocab.txt")).TrimEnd('\n').Split('\n'));

    /// <summary>MPNet id of an ordinary BERT token.</summary>
    private static int V(string token)
    {
        int i = Array.IndexOf(BertVocab.Value, token);
        Assert.True(i >= 0, $"'{token}' is not in the BERT vocabulary");
        return i + 4;
    }

    private static string[] MpnetVocab => ["<s>", "<pad>", "</s>", "<unk>", .. BertVocab.Value, "<mask>"];

    private enum Layout { VocabAndTokenizerJson, TokenizerJsonOnly, VocabAndAddedTokensDecoder, VocabOnly }

    private static ITokenizer Load(Layout layout)
    {
        string dir = TestPaths.NewTempDir("membed-mpnet-tok");
        string config = PublishedTokenizerConfig;
        if (layout != Layout.TokenizerJsonOnly)
            File.WriteAllText(Path.Combine(dir, "vocab.txt"), string.Join("\n", MpnetVocab) + "\n");
        if (layout is Layout.VocabAndTokenizerJson or Layout.TokenizerJsonOnly)
        {
            var vocab = new StringBuilder("{");
            string[] v = MpnetVocab;
            for (int i = 0; i < v.Length; i++) vocab.Append(i == 0 ? "" : ",").Append(JsonSerializer.Serialize(v[i])).Append(':').Append(i);
            vocab.Append('}');
            File.WriteAllText(Path.Combine(dir, "tokenizer.json"), "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,\"added_tokens\":" + PublishedAddedTokens
                + ",\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":true,\"strip_accents\":null,\"lowercase\":true}"
                + ",\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"post_processor\":{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0],\"trim_offsets\":true,\"add_prefix_space\":false}"
                + ",\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true}"
                + ",\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##\",\"max_input_chars_per_word\":100,\"vocab\":" + vocab + "}}");
        }
        if (layout == Layout.VocabAndAddedTokensDecoder)
        {
            // transformers >= 4.34 saves the same list as tokenizer_config.json's added_tokens_decoder (id -> token).
            var decoder = new StringBuilder("{");
            foreach (var (e, i) in JsonDocument.Parse(PublishedAddedTokens).RootElement.EnumerateArray().Select((e, i) => (e, i)))
            {
                var o = System.Text.Json.Nodes.JsonNode.Parse(e.GetRawText())!.AsObject();
                string id = o["id"]!.ToString();
                o.Remove("id");
                decoder.Append(i == 0 ? "" : ",").Append('"').Append(id).Append("\":").Append(o.ToJsonString());
            }
            decoder.Append('}');
            config = config[..^1] + ", \"added_tokens_decoder\": " + decoder + "}";
        }
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config);
        return EncoderRegistry.LoadTokenizer(dir);
    }

    public static TheoryData<int> Layouts => new() { (int)Layout.VocabAndTokenizerJson, (int)Layout.TokenizerJsonOnly, (int)Layout.VocabAndAddedTokensDecoder };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void LiteralSpecialsMapToTheirIds(int layout)
    {
        var tok = Load((Layout)layout);
        int a = V("a"), b = V("b"), lt = V("<"), gt = V(">");
        // <unk> is matched after normalization: any case, around controls (dropped), inside words, accents stripped.
        Assert.Equal([0, a, 3, b, 2], tok.Encode("a <unk> b", 64));
        Assert.Equal([0, a, 3, b, 2], tok.Encode("a <UNK> b", 64));
        Assert.Equal([0, a, 3, b, 2], tok.Encode("a <ÜnK> b", 64));
        Assert.Equal([0, a, 3, b, 2], tok.Encode("a <un\u0000k> b", 64));
        Assert.Equal([0, V("x"), 3, V("y"), 2], tok.Encode("x<unk>y", 64));
        Assert.Equal([0, 3, 2], tok.Encode("\u226Eunk>", 64)); // ≮ is NFD "<" + U+0338 (Mn, stripped)
        Assert.Equal([0, 3, 3, 2], tok.Encode("<unk><unk> <unk>", 4)); // truncation keeps the framing
        // The others are matched on the raw text only, so case matters.
        Assert.Equal([0, 0, a, 2, 2], tok.Encode("<s> a </s>", 64));
        Assert.Equal([0, lt, V("s"), gt, a, 2], tok.Encode("<S> a", 64));
        Assert.Equal([0, a, 30526, b, 2], tok.Encode("a <mask> b", 64));
        Assert.Equal([0, lt, V("mask"), gt, 2], tok.Encode("<MASK>", 64));
        Assert.Equal([0, a, 1, 1, b, 2], tok.Encode("a <pad><pad> b", 64));
        Assert.Equal([0, 104, 2], tok.Encode("[UNK]", 64));
        // BERT's [PAD] is an ordinary vocabulary entry here, not an added token: "[", "pad", "]".
        Assert.Equal([0, V("["), V("pad"), V("]"), 2], tok.Encode("[PAD]", 64));
        Assert.Equal([0, V("cat"), 2], tok.Encode("Cat", 64));
    }

    [Fact]
    public void WithoutAnAddedTokenListUnkIsText()
    {
        // A directory with only vocab.txt and the published tokenizer_config.json: HF converts the slow MPNetTokenizer,
        // whose specials are bos/eos/sep/cls/unk([UNK])/pad/mask, so "<unk>" is plain text ("<", pieces of "unk", ">").
        var tok = Load(Layout.VocabOnly);
        int[] ids = tok.Encode("<unk>", 64);
        Assert.DoesNotContain(3, ids);
        Assert.Equal(V("<"), ids[1]);
        Assert.Equal(V(">"), ids[^2]);
        Assert.Equal([0, V("a"), 30526, 2], tok.Encode("a <mask>", 64));
    }

    [Fact]
    public void AddedTokenErrorsNameTheFile()
    {
        string dir = TestPaths.NewTempDir("membed-mpnet-tok-bad");
        File.WriteAllText(Path.Combine(dir, "vocab.txt"), string.Join("\n", MpnetVocab) + "\n");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), PublishedTokenizerConfig);
        string json = Path.Combine(dir, "tokenizer.json");
        File.WriteAllText(json, """{"added_tokens":[{"id":40000,"content":"<x>","normalized":false,"special":true}],"model":{"type":"WordPiece"}}""");
        var e = Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.LoadTokenizer(dir));
        Assert.Contains("added token '<x>' has id 40000, outside the vocabulary of 30527", e.Message);
        File.WriteAllText(json, """{"added_tokens":[{"id":5,"content":"<x>","single_word":true}],"model":{"type":"WordPiece"}}""");
        e = Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.LoadTokenizer(dir));
        Assert.Contains("single_word true, which is not supported", e.Message);
        File.WriteAllText(json, """{"added_tokens":[{"content":"<x>"}],"model":{"type":"WordPiece"}}""");
        e = Assert.Throws<ManagedEmbedException>(() => EncoderRegistry.LoadTokenizer(dir));
        Assert.Contains("added_tokens[0] has no integer \"id\"", e.Message);
    }
}
