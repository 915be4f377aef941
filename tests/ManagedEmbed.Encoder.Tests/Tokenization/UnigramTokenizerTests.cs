using System.Text;
using ManagedEmbed.Encoder.Tokenization.Unigram;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>A minimal protobuf writer for hand-made SentencePiece models (test input, not a reference).</summary>
internal static class SpmProtoWriter
{
    public static void Varint(List<byte> o, ulong v)
    {
        while (v >= 0x80) { o.Add((byte)(v | 0x80)); v >>= 7; }
        o.Add((byte)v);
    }

    public static void Field(List<byte> o, int field, int wire) => Varint(o, (ulong)(field << 3 | wire));

    public static void Bytes(List<byte> o, int field, byte[] b)
    {
        Field(o, field, 2);
        Varint(o, (ulong)b.Length);
        o.AddRange(b);
    }

    public static void Int(List<byte> o, int field, long v)
    {
        Field(o, field, 0);
        Varint(o, (ulong)v);
    }

    public static byte[] Piece(string piece, float score, int type = 1)
    {
        var o = new List<byte>();
        Bytes(o, 1, Encoding.UTF8.GetBytes(piece));
        Field(o, 2, 5);
        o.AddRange(BitConverter.GetBytes(score));
        if (type != 1) Int(o, 3, type);
        return [.. o];
    }

    /// <summary>An XLM-R layout model: &lt;unk&gt; &lt;s&gt; &lt;/s&gt; then the given pieces; no charsmap (identity).</summary>
    public static byte[] Model(IEnumerable<(string Piece, float Score, int Type)> pieces, int modelType = 1, int unkId = 0,
        bool byteFallback = false, byte[]? charsmap = null, bool addDummyPrefix = true)
    {
        var o = new List<byte>();
        Bytes(o, 1, Piece("<unk>", 0, 2));
        Bytes(o, 1, Piece("<s>", 0, 3));
        Bytes(o, 1, Piece("</s>", 0, 3));
        foreach (var p in pieces) Bytes(o, 1, Piece(p.Piece, p.Score, p.Type));
        var t = new List<byte>();
        Int(t, 3, modelType);
        Int(t, 40, unkId);
        if (byteFallback) Int(t, 35, 1);
        Bytes(o, 2, [.. t]);
        var n = new List<byte>();
        Bytes(n, 1, Encoding.UTF8.GetBytes("test"));
        if (charsmap is not null) Bytes(n, 2, charsmap);
        Int(n, 3, addDummyPrefix ? 1 : 0);
        Bytes(o, 3, [.. n]);
        return [.. o];
    }
}

/// <summary>Hand-computed segmentations and the Encode contract (framing, truncation, argument checks).</summary>
public sealed class UnigramTokenizerTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-unigram");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    // spm ids: <unk>0 <s>1 </s>2 ▁ab3 ▁a4 b5 ▁6 a7 c8 ab9; HF ids = spm + 1 for pieces, <unk> = 3, <mask> = 11.
    private static readonly (string, float, int)[] Pieces =
        [("▁ab", -1.0f, 1), ("▁a", -2.0f, 1), ("b", -2.5f, 1), ("▁", -3.0f, 1), ("a", -3.0f, 1), ("c", -4.0f, 1), ("ab", -4.5f, 1)];

    private XlmRobertaTokenizer Tiny(IEnumerable<(string, float, int)>? pieces = null, bool addDummyPrefix = true)
    {
        string path = Path.Combine(_dir, $"m{Guid.NewGuid():N}.model");
        File.WriteAllBytes(path, SpmProtoWriter.Model(pieces ?? Pieces, addDummyPrefix: addDummyPrefix));
        return XlmRobertaTokenizer.LoadSentencePieceModel(path);
    }

    [Fact]
    public void IdLayoutIsFairseq()
    {
        var tok = Tiny();
        Assert.Equal((0, 1, 2, 3, 11, 12), (tok.BosId, tok.PadId, tok.EosId, tok.UnkId, tok.MaskId, tok.VocabSize));
        Assert.Equal("▁ab", tok.IdToPiece(4));
        Assert.Equal("<mask>", tok.IdToPiece(11));
    }

    [Fact]
    public void ViterbiPicksTheBestPath()
    {
        var tok = Tiny();
        // "ab" → "▁ab": ▁ab (-1) beats ▁a+b (-4.5) and ▁+ab (-7.5).
        Assert.Equal([0, 4, 2], tok.Encode("ab", 128));
        // "abab" → ▁ab + ab (-5.5) vs ▁ab + a + b (-6.5) vs ▁a + b + ab ...: ▁ab ab.
        Assert.Equal([0, 4, 10, 2], tok.Encode("abab", 128));
        // "cab" → ▁ c ab (-3 -4 -4.5 = -11.5) vs ▁ c a b (-12.5): ▁ c ab.
        Assert.Equal([0, 7, 9, 10, 2], tok.Encode("cab", 128));
        Assert.Equal(["▁", "c", "ab"], tok.Tokenize("cab"));
    }

    [Fact]
    public void UnknownRunsFuseIntoOneUnk()
    {
        var tok = Tiny();
        // "a😀😀xb": ▁a, then 😀 😀 x unknown (fused), then b.
        Assert.Equal([0, 5, 3, 6, 2], tok.Encode("a😀😀xb", 128));
        Assert.Equal(["▁a", "😀😀x", "b"], tok.Tokenize("a😀😀xb"));
        // A space between unknowns is a known piece: two separate <unk>s.
        Assert.Equal([0, 5, 3, 7, 3, 2], tok.Encode("a😀 😀", 128));
    }

    [Fact]
    public void WhitespaceHandlingWithoutCharsmap()
    {
        var tok = Tiny();
        Assert.Equal("▁ab▁ab", tok.Normalize("  ab   ab  "));
        Assert.Equal("▁ab\t▁ab", tok.Normalize("ab\t ab"));   // only ' ' is whitespace without a charsmap
        Assert.Equal("", tok.Normalize("   "));
        var noPrefix = Tiny(addDummyPrefix: false);
        Assert.Equal("ab▁ab", noPrefix.Normalize(" ab ab "));
    }

    [Fact]
    public void EmptyAndWhitespaceOnlyGiveJustTheSpecials()
    {
        var tok = Tiny();
        Assert.Equal([0, 2], tok.Encode("", 128));
        Assert.Equal([0, 2], tok.Encode("   ", 128));
        Assert.Empty(tok.Tokenize(""));
    }

    [Fact]
    public void TruncationKeepsTheFirstMaxLengthMinusTwoPieces()
    {
        var tok = Tiny();
        string text = string.Join(" ", Enumerable.Repeat("ab", 10));   // ten ▁ab pieces
        Assert.Equal(12, tok.Encode(text, 128).Length);
        Assert.Equal([0, 4, 4, 4, 2], tok.Encode(text, 5));
        Assert.Equal([0, 2], tok.Encode(text, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Encode(text, 1));
        Assert.Throws<ArgumentNullException>(() => tok.Encode(null!, 8));
    }

    [Fact]
    public void UserDefinedPieceIsAlwaysKeptWholeAndUnusedNeverProduced()
    {
        // A user-defined piece scores (bytes × max normal score) − 0.1: "▁abc" (6 bytes) = 6 × −0.01 − 0.1 = −0.16,
        // beating ▁ab + c = −5. The unused "b" (type 5) is never produced.
        var tok = Tiny([("▁ab", -1f, 1), ("▁abc", -50f, 4), ("▁", -3f, 1), ("a", -3f, 1), ("b", -2f, 5), ("c", -4f, 1), ("zz", -0.01f, 1)]);
        Assert.Equal([0, 5, 2], tok.Encode("abc", 128));
        // "ab" without "b": ▁ab (-1) still matches whole; "b" alone is unknown.
        Assert.Equal([0, 4, 2], tok.Encode("ab", 128));
        Assert.Equal([0, 6, 3, 2], tok.Encode("b", 128));
    }

    [Fact]
    public void LoadPrefersTokenizerJsonAndFallsBackToTheModelFile()
    {
        string src = UnigramFixtureTests.Dir;
        File.Copy(Path.Combine(src, "u1000-identity.model"), Path.Combine(_dir, "sentencepiece.bpe.model"));
        File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"),
            """{"do_lower_case": true, "unk_token": "<unk>", "mask_token": {"content": "<mask>", "__type": "AddedToken"}, "tokenizer_class": "XLMRobertaTokenizer"}""");
        var fromModel = XlmRobertaTokenizer.Load(_dir);
        UnigramFixtureTests.Unzip(Path.Combine(src, "u400-nfkc.tokenizer.json.gz"), _dir);
        var fromJson = XlmRobertaTokenizer.Load(_dir);
        Assert.Equal(402, fromJson.VocabSize);   // tokenizer.json (400 pieces + <pad> + <mask>) wins
        Assert.Equal(1002, fromModel.VocabSize);
    }
}
