using System.Text;
using ManagedEmbed.Encoder.Tokenization.Unigram;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>Malformed .model / tokenizer.json / tokenizer_config.json: one clear single-line ManagedEmbedException.</summary>
public sealed class UnigramLoadErrorTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-unigram-err");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly (string, float, int)[] Pieces = [("▁a", -1f, 1), ("b", -2f, 1)];

    private string WriteModel(byte[] bytes)
    {
        string p = Path.Combine(_dir, "bad.model");
        File.WriteAllBytes(p, bytes);
        return p;
    }

    private string WriteJson(string text)
    {
        string p = Path.Combine(_dir, "tokenizer.json");
        File.WriteAllText(p, text, new UTF8Encoding(false));
        return p;
    }

    private static ManagedEmbedException Fails(Action load, params string[] expected)
    {
        var e = Assert.Throws<ManagedEmbedException>(load);
        Assert.DoesNotContain('\n', e.Message);
        foreach (string s in expected) Assert.Contains(s, e.Message);
        return e;
    }

    private void ModelFails(byte[] bytes, params string[] expected)
    {
        string p = WriteModel(bytes);
        Fails(() => XlmRobertaTokenizer.LoadSentencePieceModel(p), [p, .. expected]);
    }

    [Fact]
    public void ValidHandMadeModelLoads() =>
        Assert.Equal([0, 4, 5, 2], XlmRobertaTokenizer.LoadSentencePieceModel(WriteModel(SpmProtoWriter.Model(Pieces))).Encode("ab", 8));

    [Fact]
    public void MissingModelFile() =>
        Fails(() => XlmRobertaTokenizer.LoadSentencePieceModel(Path.Combine(_dir, "nope.model")), "nope.model", "not found");

    [Fact]
    public void EmptyModel() => ModelFails([], "no pieces");

    [Fact]
    public void TruncatedModel()
    {
        byte[] real = File.ReadAllBytes(Path.Combine(UnigramFixtureTests.Dir, "u1000-identity.model"));
        ModelFails(real[..(real.Length / 2)], "not a valid SentencePiece model");
    }

    [Fact]
    public void TextFileIsNotAModel() => ModelFails("{\"model\": 1}\n"u8.ToArray(), "not a valid SentencePiece model");

    [Fact]
    public void WrongWireType()
    {
        var o = new List<byte>();
        SpmProtoWriter.Int(o, 1, 5);   // pieces must be length-delimited
        ModelFails([.. o], "wire type");
    }

    [Fact]
    public void InvalidUtf8Piece()
    {
        var o = new List<byte>();
        var piece = new List<byte>();
        SpmProtoWriter.Bytes(piece, 1, [0xC3, 0x28]);
        SpmProtoWriter.Bytes(o, 1, [.. piece]);
        ModelFails([.. o], "UTF-8");
    }

    [Fact]
    public void BpeModelIsRejected() => ModelFails(SpmProtoWriter.Model(Pieces, modelType: 2), "model_type 2");

    [Fact]
    public void ByteFallbackIsRejected() => ModelFails(SpmProtoWriter.Model(Pieces, byteFallback: true), "byte_fallback");

    [Fact]
    public void NonXlmrLayoutIsRejected() => ModelFails(SpmProtoWriter.Model(Pieces, unkId: 3), "XLM-R layout");

    [Fact]
    public void CorruptCharsmap() => ModelFails(SpmProtoWriter.Model(Pieces, charsmap: [0xFF, 0xFF, 0, 0, 1, 2]), "precompiled_charsmap");

    [Fact]
    public void UnsupportedTokenizerClass()
    {
        string m = WriteModel(SpmProtoWriter.Model(Pieces));
        string c = Path.Combine(_dir, "tokenizer_config.json");
        File.WriteAllText(c, """{"tokenizer_class": "BertTokenizer"}""");
        Fails(() => XlmRobertaTokenizer.LoadSentencePieceModel(m, c), c, "BertTokenizer");
        File.WriteAllText(c, """{"cls_token": "[CLS]"}""");
        Fails(() => XlmRobertaTokenizer.LoadSentencePieceModel(m, c), c, "cls_token");
    }

    [Fact]
    public void EmptyDirectory() => Fails(() => XlmRobertaTokenizer.Load(_dir), "tokenizer.json", "sentencepiece.bpe.model");

    private const string Pre = """{"type":"Sequence","pretokenizers":[{"type":"WhitespaceSplit"},{"type":"Metaspace","replacement":"▁","add_prefix_space":true}]}""";
    private const string Vocab = """[["<s>",0.0],["<pad>",0.0],["</s>",0.0],["<unk>",0.0],["▁a",-1.0],["b",-2.0],["<mask>",0.0]]""";

    private static string Json(string model = $$"""{"type":"Unigram","unk_id":3,"vocab":{{Vocab}}}""", string normalizer = "null", string pre = Pre) =>
        $$"""{"version":"1.0","added_tokens":[{"id":0,"content":"<s>","special":true},{"id":6,"content":"<mask>","special":true}],"normalizer":{{normalizer}},"pre_tokenizer":{{pre}},"model":{{model}}}""";

    private void JsonFails(string text, params string[] expected)
    {
        string p = WriteJson(text);
        Fails(() => XlmRobertaTokenizer.LoadTokenizerJson(p), [p, .. expected]);
    }

    [Fact]
    public void ValidHandMadeJsonLoads()
    {
        var tok = XlmRobertaTokenizer.LoadTokenizerJson(WriteJson(Json()));
        Assert.Equal([0, 4, 5, 3, 2], tok.Encode("ab😀", 8));
        Assert.Equal(6, tok.MaskId);
    }

    [Fact]
    public void NotJson() => JsonFails("{\"model\": ", "not valid JSON");

    [Fact]
    public void MissingModel() => JsonFails("{}", "\"model\"");

    [Fact]
    public void WordPieceModelIsRejected() => JsonFails(Json("""{"type":"WordPiece","vocab":{}}"""), "WordPiece");

    [Fact]
    public void BadVocabEntry() => JsonFails(Json("""{"type":"Unigram","unk_id":0,"vocab":[["<s>",0.0],["x"]]}"""), "model.vocab[1]");

    [Fact]
    public void UnkIdOutOfRange() => JsonFails(Json($$"""{"type":"Unigram","unk_id":70,"vocab":{{Vocab}}}"""), "unk_id");

    [Fact]
    public void UnsupportedNormalizer() => JsonFails(Json(normalizer: """{"type":"NFKC"}"""), "NFKC");

    [Fact]
    public void BadBase64Charsmap() => JsonFails(Json(normalizer: """{"type":"Precompiled","precompiled_charsmap":"@@@"}"""), "base64");

    [Fact]
    public void UnsupportedPreTokenizer() => JsonFails(Json(pre: """{"type":"ByteLevel"}"""), "ByteLevel");

    [Fact]
    public void MissingPreTokenizer() => JsonFails(Json(pre: "null"), "pre_tokenizer");
}
