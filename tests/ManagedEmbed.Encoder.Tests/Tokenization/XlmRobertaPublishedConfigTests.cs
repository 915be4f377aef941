using System.Text;
using System.Text.Json;
using ManagedEmbed.Encoder.Tokenization.Unigram;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>
/// The published paraphrase-multilingual-MiniLM-L12-v2 tokenizer files (shared/models/PUBLISHED-CONFIGS.md §3; the
/// 9 MB tokenizer.json and 5 MB sentencepiece.bpe.model themselves are not available here): their verbatim
/// structure must load, with the published ids of the specials and the pieces shown.
/// </summary>
public sealed class XlmRobertaPublishedConfigTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-xlmr-pub");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // Verbatim from PUBLISHED-CONFIGS.md §3 (tokenizer.json head, pre_tokenizer, post_processor, decoder), except:
    // <mask>'s id 250001 → 10 to fit the short vocabulary, and the elided charsmap replaced by the u400-nfkc one.
    private const string Head = """{"version":"1.0","truncation":{"max_length":128,"strategy":"LongestFirst","stride":0},"padding":{"strategy":"BatchLongest","direction":"Right","pad_to_multiple_of":null,"pad_id":1,"pad_type_id":0,"pad_token":"<pad>"},"added_tokens":[{"id":0,"special":true,"content":"<s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false},{"id":1,"special":true,"content":"<pad>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false},{"id":2,"special":true,"content":"</s>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false},{"id":3,"special":true,"content":"<unk>","single_word":false,"lstrip":false,"rstrip":false,"normalized":false},{"id":10,"special":true,"content":"<mask>","single_word":false,"lstrip":true,"rstrip":false,"normalized":false}],""";
    private const string Rest = ""","pre_tokenizer":{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Metaspace","replacement":"▁","add_prefix_space":true}]},"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"pair":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}},{"Sequence":{"id":"B","type_id":0}},{"SpecialToken":{"id":"</s>","type_id":0}}],"special_tokens":{"</s>":{"id":"</s>","ids":[2],"tokens":["</s>"]},"<s>":{"id":"<s>","ids":[0],"tokens":["<s>"]}}},"decoder":{"type":"Metaspace","replacement":"▁","add_prefix_space":true},"model":{"type":"Unigram","unk_id":3,"vocab":[["<s>",0.0],["<pad>",0.0],["</s>",0.0],["<unk>",0.0],[",",-3.4635426998138428],[".",-3.625642776489258],["▁",-3.9299705028533936],["▁<s>",-1.0],["a",-8.0],["稣",-20.3647518157959],["<mask>",0.0]]}}""";

    private static string Charsmap()
    {
        using var gz = new System.IO.Compression.GZipStream(File.OpenRead(Path.Combine(UnigramFixtureTests.Dir, "u400-nfkc.tokenizer.json.gz")),
            System.IO.Compression.CompressionMode.Decompress);
        using JsonDocument doc = JsonDocument.Parse(gz);
        return doc.RootElement.GetProperty("normalizer").GetProperty("precompiled_charsmap").GetString()!;
    }

    [Fact]
    public void PublishedTokenizerJsonStructureLoads()
    {
        string path = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(path, Head + "\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"" + Charsmap() + "\"}" + Rest, new UTF8Encoding(false));
        var tok = XlmRobertaTokenizer.Load(_dir);
        Assert.Equal((0, 1, 2, 3, 10), (tok.BosId, tok.PadId, tok.EosId, tok.UnkId, tok.MaskId));
        // "稣, 稣." → ▁ 稣 , ▁ 稣 . ; "x" is unknown; the special <s> (id 0) never matches text ("a<s>" → ▁ a <unk>),
        // while the ordinary piece "▁<s>" (id 7, added to the short vocabulary for this) does.
        Assert.Equal([0, 6, 9, 4, 6, 9, 5, 2], tok.Encode("稣, 稣.", 128));
        Assert.Equal([0, 6, 3, 2], tok.Encode("x", 128));
        Assert.Equal([0, 6, 8, 3, 2], tok.Encode("a<s>", 128));
        Assert.Equal([0, 7, 2], tok.Encode("<s>", 128));
        // The charsmap is applied: full-width "，" (U+FF0C) is NFKC ","; "ａ" is "a".
        Assert.Equal([0, 6, 9, 4, 2], tok.Encode("稣，", 128));
        Assert.Equal([0, 6, 8, 2], tok.Encode("ａ", 128));
    }

    public static TheoryData<string> PublishedConfigs() =>
    [
        // (a) StockSage / qy-l113 and (b) the 480-byte version without tokenizer_class, verbatim.
        """{"do_lower_case": true, "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>", "mask_token": {"content": "<mask>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": true, "__type": "AddedToken"}, "tokenize_chinese_chars": true, "strip_accents": null, "bos_token": "<s>", "eos_token": "</s>", "model_max_length": 512, "special_tokens_map_file": null, "name_or_path": "old_models/paraphrase-multilingual-MiniLM-L12-v2/0_Transformer", "tokenizer_class": "PreTrainedTokenizerFast"}""",
        """{"do_lower_case": true, "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>", "cls_token": "<s>", "mask_token": {"content": "<mask>", "single_word": false, "lstrip": true, "rstrip": false, "normalized": true, "__type": "AddedToken"}, "tokenize_chinese_chars": true, "strip_accents": null, "bos_token": "<s>", "eos_token": "</s>", "model_max_length": 512, "special_tokens_map_file": null, "name_or_path": "old_models/paraphrase-multilingual-MiniLM-L12-v2/0_Transformer"}""",
    ];

    [Theory]
    [MemberData(nameof(PublishedConfigs))]
    public void PublishedTokenizerConfigsAreAcceptedAndDoLowerCaseIsIgnored(string config)
    {
        File.Copy(Path.Combine(UnigramFixtureTests.Dir, "u1000-identity.model"), Path.Combine(_dir, "sentencepiece.bpe.model"));
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), config);
        var tok = XlmRobertaTokenizer.Load(_dir);
        var plain = XlmRobertaTokenizer.LoadSentencePieceModel(Path.Combine(UnigramFixtureTests.Dir, "u1000-identity.model"));
        // do_lower_case: true is not applied (HF's XLM-R tokenizers ignore it): "ABC" keeps its case.
        Assert.Equal(plain.Encode("ABC Hello", 128), tok.Encode("ABC Hello", 128));
        Assert.Equal("▁ABC▁Hello", tok.Normalize("ABC Hello"));
    }
}
