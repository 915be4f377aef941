using System.Text.Json;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>
/// Token-exactness against the independent Python reference (tools/reference/hf_tokenizer.py): every case of the
/// committed fixtures must produce exactly the reference ids, [CLS] and [SEP] included, after truncation.
/// </summary>
public class TokenizerFixtureTests
{
    internal sealed record Fixture(string VocabPath, bool LowerCase, int MaxLength, List<(string Text, int[] Ids)> Cases);

    internal static Fixture LoadFixture(string name)
    {
        string path = Path.Combine(TestPaths.Fixtures, "tokenizer", name);
        Assert.True(File.Exists(path), $"missing fixture {path} (regenerate with tools/gen_tokenizer_fixtures.py)");
        using JsonDocument doc = JsonDocument.Parse(File.ReadAllBytes(path));
        JsonElement root = doc.RootElement;
        string vocab = root.GetProperty("vocab").GetString()!;
        Assert.StartsWith("shared:", vocab);
        string vocabPath = Path.Combine(TestPaths.Shared, vocab["shared:".Length..]);
        Assert.True(File.Exists(vocabPath), $"missing {vocabPath}");
        var cases = root.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32()).ToArray()))
            .ToList();
        return new Fixture(vocabPath, root.GetProperty("do_lower_case").GetBoolean(), root.GetProperty("max_length").GetInt32(), cases);
    }

    internal static BertTokenizer FromFixture(Fixture f) =>
        new(File.ReadAllLines(f.VocabPath), new BertTokenizerOptions { LowerCase = f.LowerCase });

    private static void AssertAllCases(BertTokenizer tok, Fixture f, int minCases)
    {
        Assert.True(f.Cases.Count >= minCases, $"fixture has only {f.Cases.Count} cases");
        var failures = new List<string>();
        foreach ((string text, int[] ids) in f.Cases)
        {
            int[] got = tok.Encode(text, f.MaxLength);
            if (!got.AsSpan().SequenceEqual(ids))
                failures.Add($"{Escape(text)}\n   want [{string.Join(" ", ids)}]\n   got  [{string.Join(" ", got)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count}/{f.Cases.Count} cases differ:\n" + string.Join("\n", failures.Take(15)));
    }

    internal static string Escape(string s)
    {
        var sb = new System.Text.StringBuilder("\"");
        foreach (char c in s.Length > 120 ? s[..120] : s)
            sb.Append(c is < ' ' or > '~' ? $"\\u{(int)c:x4}" : c.ToString());
        return sb.Append(s.Length > 120 ? "...\"" : "\"").ToString();
    }

    [Fact]
    public void UncasedFixtureMatchesReference()
    {
        Fixture f = LoadFixture("minilm-uncased.json");
        Assert.True(f.LowerCase);
        AssertAllCases(FromFixture(f), f, 300);
    }

    [Fact]
    public void CasedFixtureMatchesReference()
    {
        Fixture f = LoadFixture("minilm-cased.json");
        Assert.False(f.LowerCase);
        AssertAllCases(FromFixture(f), f, 300);
    }

    [Fact]
    public void LoadedModelDirectoryMatchesReference()
    {
        // The real all-MiniLM-L6-v2 directory: tokenizer_config.json says do_lower_case=true.
        Fixture f = LoadFixture("minilm-uncased.json");
        Assert.Equal(Path.GetFullPath(Path.Combine(TestPaths.MiniLm, "vocab.txt")), Path.GetFullPath(f.VocabPath));
        AssertAllCases(BertTokenizer.Load(TestPaths.MiniLm), f, 300);
    }

    [Fact]
    public void TokenizerJsonVocabularyMatchesReference()
    {
        // Same directory without vocab.txt: the WordPiece vocab comes from tokenizer.json.
        string dir = TestPaths.NewTempDir("membed-tok");
        try
        {
            foreach (string name in new[] { "tokenizer.json", "tokenizer_config.json" })
                File.Copy(Path.Combine(TestPaths.MiniLm, name), Path.Combine(dir, name));
            BertTokenizer tok = BertTokenizer.Load(dir);
            Assert.Equal(30522, File.ReadAllLines(Path.Combine(TestPaths.MiniLm, "vocab.txt")).Length);
            Assert.Equal(File.ReadAllLines(Path.Combine(TestPaths.MiniLm, "vocab.txt")).Length, tok.VocabSize);
            AssertAllCases(tok, LoadFixture("minilm-uncased.json"), 300);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void TokenizeMatchesEncodeWithoutSpecials()
    {
        Fixture f = LoadFixture("minilm-uncased.json");
        BertTokenizer tok = FromFixture(f);
        foreach ((string text, int[] ids) in f.Cases.Where(c => c.Ids.Length < f.MaxLength))
        {
            IReadOnlyList<string> pieces = tok.Tokenize(text);
            Assert.Equal(ids[1..^1].Select(tok.IdToToken), pieces);
        }
    }
}
