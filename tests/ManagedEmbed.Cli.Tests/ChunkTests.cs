using System.Text.Json;
using System.Text.RegularExpressions;
using ManagedEmbed.Encoder;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli.Tests;

/// <summary>Long documents as overlapping token windows (issue 14): the chunker's windows and spans, and search over them.</summary>
public class DocumentChunkerTests
{
    [Fact]
    public void OneTokenWordsMakeHandComputedWindows()
    {
        // Twelve one-token words at characters 0, 2, 4, ...; 5 tokens a window, 2 shared.
        var c = new DocumentChunker(_ => 1, 5, 2).Chunk("a b c d e f g h i j k l");
        Assert.Equal([new TextChunk(0, 9, 5), new TextChunk(6, 15, 5), new TextChunk(12, 21, 5), new TextChunk(18, 23, 3)], c);
    }

    [Fact]
    public void NoOverlapAndAWordLongerThanAWindow()
    {
        // One token per character: "abcdefgh" (8) does not fit 3 and is cut into abc|def|gh.
        var c = new DocumentChunker(t => t.Length, 3, 0).Chunk("abcdefgh ij");
        Assert.Equal([new TextChunk(0, 3, 3), new TextChunk(3, 6, 3), new TextChunk(6, 8, 2), new TextChunk(9, 11, 2)], c);
    }

    [Fact]
    public void BlankTextIsOneWindowAndBadSizesAreRefused()
    {
        Assert.Equal([new TextChunk(0, 2, 0)], new DocumentChunker(_ => 1, 4, 0).Chunk("  "));
        Assert.Throws<ManagedEmbedException>(() => new DocumentChunker(_ => 1, 0, 0));
        Assert.Throws<ManagedEmbedException>(() => new DocumentChunker(_ => 1, 4, 4));
        Assert.Throws<ManagedEmbedException>(() => new DocumentChunker(_ => 1, 4, -1));
    }
}

/// <summary>Windows over a real WordPiece tokenizer, checked against the whole text's tokens, and search returning the best window.</summary>
[Collection("pty")]
public class ChunkSearchTests(PtyFixture fx)
{
    [Fact]
    public void WindowsFitAndTheirTokensRebuildTheText()
    {
        using var enc = SentenceEncoder.Load(fx.Model, new EncoderOptions { Threads = 1 });
        int[] Ids(string t) => enc.Tokenizer.Encode(t, int.MaxValue)[1..^1];
        string text = "Transformers changed natural-language processing. Attention lets every token look at every other token, " +
            "and pre-training on large corpora (Wikipedia, books) gives general representations! Fine-tuning adapts them: " +
            "classification, retrieval, question answering, and sentence embeddings for semantic search.";
        const int size = 12, overlap = 4;
        var chunks = new DocumentChunker(t => Ids(t).Length, size, overlap).Chunk(text);
        Assert.True(chunks.Count >= 4);
        var wordStarts = Regex.Matches(text, @"\S+").Select(m => m.Index).ToHashSet();
        var wordEnds = Regex.Matches(text, @"\S+").Select(m => m.Index + m.Length).ToHashSet();
        var rebuilt = new List<int>(Ids(text[..chunks[0].End]));
        for (int i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            Assert.Contains(c.Start, wordStarts);
            Assert.Contains(c.End, wordEnds);
            Assert.Equal(Ids(text[c.Start..c.End]).Length, c.Tokens);
            Assert.InRange(c.Tokens, 1, size);
            if (i == 0) continue;
            var p = chunks[i - 1];
            Assert.True(c.Start > p.Start && c.End > p.End);
            if (c.Start < p.End) Assert.InRange(Ids(text[c.Start..p.End]).Length, 1, overlap);
            rebuilt.AddRange(Ids(text[Math.Max(c.Start, p.End)..c.End]));
        }
        Assert.Equal(0, chunks[0].Start);
        Assert.Equal(text.Length, chunks[^1].End);
        Assert.Equal(Ids(text), rebuilt);
    }

    [Fact]
    public void SearchFindsTheDocumentByItsThirdWindowAndReportsItsSpan()
    {
        string[] words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
            "red", "blue", "green", "black", "white", "yellow", "orange", "purple", "north", "south", "east", "west"];
        using (var enc = SentenceEncoder.Load(fx.Model, new EncoderOptions { Threads = 1 }))
            foreach (string w in words) Assert.Equal(3, enc.Tokenizer.Encode(w, 16).Length); // one token each
        string doc = string.Join(' ', words);
        string corpus = Path.Combine(fx.Root, "chunk-corpus.txt");
        File.WriteAllText(corpus, "the cat sat on the mat\nthe dog ran far\n" + doc + "\nand then the end\n");
        // 8 tokens a window, 2 shared: words 0-7, 6-13, 12-19, 18-23. The third window is words 12..19.
        string third = string.Join(' ', words[12..20]);
        int start = doc.IndexOf("red", StringComparison.Ordinal), end = doc.IndexOf("purple", StringComparison.Ordinal) + "purple".Length;
        var r = CliRunner.Run(["search", "--model", fx.Model, "--corpus", corpus, "--chunk", "8", "--overlap", "2", "--k", "2", "--json", third]);
        Assert.True(r.ExitCode == 0, r.Stderr);
        using var j = JsonDocument.Parse(r.Stdout);
        var hits = j.RootElement.GetProperty("queries")[0].GetProperty("results");
        Assert.Equal(2, hits.GetArrayLength());
        var best = hits[0];
        Assert.Equal(2, best.GetProperty("id").GetInt32());
        Assert.Equal(doc, best.GetProperty("document").GetString());
        Assert.Equal(start, best.GetProperty("start").GetInt32());
        Assert.Equal(end, best.GetProperty("end").GetInt32());
        Assert.True(best.GetProperty("score").GetDouble() > 0.9999);
        Assert.NotEqual(2, hits[1].GetProperty("id").GetInt32()); // each document once
        var table = CliRunner.Run(["search", "--model", fx.Model, "--corpus", corpus, "--chunk", "8", "--overlap", "2", "--k", "1", third]);
        Assert.True(table.ExitCode == 0, table.Stderr);
        Assert.Contains("  " + doc, table.Stdout);
    }

    [Fact]
    public void ChunkOptionsAreChecked()
    {
        string corpus = Path.Combine(fx.Root, "chunk-small.txt");
        File.WriteAllText(corpus, "a b c\n");
        foreach (var (args, message) in new (string[], string)[]
        {
            (["--overlap", "2"], "--overlap needs --chunk TOKENS"),
            (["--chunk", "8", "--overlap", "8"], "option --overlap must be an integer in [0, 7], got '8'"),
            (["--chunk", "63"], "chunk size 63 exceeds the 62 tokens a window can hold (max_seq_length 64 less the special tokens)"),
            (["--chunk", "8", "--save", Path.Combine(fx.Root, "x.index")], "--chunk cannot be combined with --save or --load"),
        })
        {
            var r = CliRunner.Run(["search", "--model", fx.Model, "--corpus", corpus, .. args, "q"]);
            Assert.Equal(2, r.ExitCode);
            Assert.Equal("", r.Stdout);
            Assert.StartsWith("membed: error: " + message, r.Stderr);
        }
    }
}
