using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>An arbitrary UTF-16 string biased towards what breaks tokenizers.</summary>
public sealed record TokText(string Value)
{
    public override string ToString() => TokenizerFixtureTests.Escape(Value);
}

public static class TokenizerArbitraries
{
    private static readonly string[] Fragments =
    [
        " ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "\u200b", "\u200d", "\u0000", "\ufffd", "\ufeff",
        "[SEP]", "[CLS]", "[MASK]", "[UNK]", "[PAD]", "[", "]", "=", ".", "'", "-", "##", "Σ", "ς", "İ", "ß", "\u0301",
        "\u0323", "😀", "👩‍💻", "👍🏽", "中", "文", "한", "カ", "ا", "हि", "ก", "Ω", "Å", "ﬁ", "hello", "Hello", "WORLD",
        "unaffable", "the", "##s", "é", "e\u0301", "ǅ", "\U0001D400", "\uD800", "\uDC00", "\uDBFF", "\uDFFF",
    ];

    private static Gen<string> Fragment =>
        Gen.Frequency(
            (4, Gen.Elements(Fragments)),
            (3, Gen.Choose(0, 0xFFFF).Select(c => ((char)c).ToString())), // any UTF-16 unit, lone surrogates included
            (2, Gen.Choose(0, 0x10FFFF).Where(c => c is < 0xD800 or > 0xDFFF).Select(char.ConvertFromUtf32)),
            (3, Gen.Choose(0x20, 0x7E).Select(c => ((char)c).ToString())),
            (2, Gen.Choose(1, 150).Select(n => new string('a', n))));

    public static Arbitrary<TokText> Texts() =>
        Arb.From(Gen.Choose(0, 40).SelectMany(n => Gen.ArrayOf(Fragment, n)).Select(a => new TokText(string.Concat(a))));
}

[Properties(Arbitrary = [typeof(TokenizerArbitraries)], MaxTest = 300)]
public class BertTokenizerPropertyTests
{
    private static readonly Lazy<BertTokenizer> Uncased = new(() => BertTokenizer.Load(TestPaths.MiniLm));

    private static readonly Lazy<BertTokenizer> NoSpecials = new(() => new BertTokenizer(
        File.ReadAllLines(Path.Combine(TestPaths.MiniLm, "vocab.txt")), new BertTokenizerOptions { RecognizeSpecialTokensInText = false }));

    private static readonly Lazy<BertTokenizer> Cased = new(() => new BertTokenizer(
        File.ReadAllLines(Path.Combine(TestPaths.MiniLm, "vocab.txt")), new BertTokenizerOptions { LowerCase = false }));

    [Property]
    public void EncodeIsClsPiecesSepWithinMaxLength(TokText text, PositiveInt max)
    {
        foreach (BertTokenizer tok in new[] { Uncased.Value, Cased.Value })
        {
            int maxLength = 2 + max.Get % 300;
            int[] ids = tok.Encode(text.Value, maxLength);
            int[] all = tok.EncodeWithoutSpecialTokens(text.Value);
            Assert.InRange(ids.Length, 2, maxLength);
            Assert.Equal(tok.ClsId, ids[0]);
            Assert.Equal(tok.SepId, ids[^1]);
            Assert.All(ids, id => Assert.InRange(id, 0, tok.VocabSize - 1));
            Assert.All(all, id => Assert.InRange(id, 0, tok.VocabSize - 1));
            // Truncation keeps exactly the first maxLength - 2 pieces.
            Assert.Equal(all.AsSpan(0, Math.Min(all.Length, maxLength - 2)).ToArray(), ids[1..^1]);
            Assert.Equal(all.Length, tok.Tokenize(text.Value).Count);
        }
    }

    [Property]
    public void DroppedCharactersAreInvisible(TokText text, NonNegativeInt position, PositiveInt which)
    {
        // Cleaning removes NUL, U+FFFD, C* (controls, format chars like ZWJ/BOM, private use) and lone surrogates
        // before anything else, so inserting one between two code points changes nothing.
        string[] dropped = ["\u0000", "\ufffd", "\u200d", "\u200b", "\u0007", "\ufeff", "\ue000", "\ue123", "\U000f1234", "\u0378", "\u0085", "\uD800", "\uDC00"];
        string s = text.Value;
        int at = position.Get % (s.Length + 1);
        if (at > 0 && at < s.Length && char.IsHighSurrogate(s[at - 1]) && char.IsLowSurrogate(s[at])) at--; // don't split a pair
        string insert = dropped[which.Get % dropped.Length];
        if (insert == "\uD800" && at < s.Length && char.IsLowSurrogate(s[at])) insert = "\u0000"; // would form a pair
        if (insert == "\uDC00" && at > 0 && char.IsHighSurrogate(s[at - 1])) insert = "\u0000";
        string t = s.Insert(at, insert);
        Assert.Equal(NoSpecials.Value.EncodeWithoutSpecialTokens(s), NoSpecials.Value.EncodeWithoutSpecialTokens(t));
    }

    [Property]
    public void AllWhitespaceKindsAreEquivalent(TokText text)
    {
        var sb = new StringBuilder(text.Value.Length);
        foreach (char c in text.Value)
            sb.Append(c is '\t' or '\n' or '\r' or '\u00a0' or '\u3000' or '\u2028' or '\u2029' or '\u2003' ? ' ' : c);
        Assert.Equal(Uncased.Value.EncodeWithoutSpecialTokens(sb.ToString()), Uncased.Value.EncodeWithoutSpecialTokens(text.Value));
    }

    [Property]
    public void UncasedIgnoresAsciiCase(TokText text)
    {
        var upper = new StringBuilder(text.Value.Length);
        foreach (char c in text.Value) upper.Append(c is >= 'a' and <= 'z' ? (char)(c - 32) : c);
        Assert.Equal(NoSpecials.Value.EncodeWithoutSpecialTokens(text.Value), NoSpecials.Value.EncodeWithoutSpecialTokens(upper.ToString()));
    }
}

[Properties(Arbitrary = [typeof(TokenizerArbitraries)], MaxTest = 300)]
public class BertTokenizerFastPathPropertyTests
{
    private static readonly Lazy<BertTokenizer> Uncased = new(() => BertTokenizer.Load(TestPaths.MiniLm));

    [Property]
    public void AsciiFastPathMatchesGeneralPipeline(TokText text)
    {
        // Encode takes a char-level fast path for all-ASCII segments; PreTokenize always runs the general
        // code-point pipeline. Their pieces must encode identically.
        var ascii = new string(text.Value.Select(c => (char)(c & 0x7F)).ToArray());
        BertTokenizer tok = Uncased.Value;
        var viaPieces = new List<int>();
        foreach ((string piece, bool special) in tok.PreTokenize(ascii))
            viaPieces.AddRange(special ? [tok.Encode(piece, 3)[1]] : tok.EncodeWithoutSpecialTokens(piece));
        Assert.Equal(viaPieces.ToArray(), tok.EncodeWithoutSpecialTokens(ascii));
    }
}
