using System.IO.Compression;
using System.Text.Json;
using ManagedEmbed.Encoder.Tokenization.Unigram;
using ManagedEmbed.Testing;
using Xunit.Abstractions;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>
/// Token-exactness against Google SentencePiece (tools/gen_unigram_fixtures.py: python3-sentencepiece EncodeAsIds,
/// fairseq-offset, &lt;s&gt; … &lt;/s&gt;, truncated to max_length; normalized text from spm_normalize) for every text
/// and every committed model, through the .model loader and through the converted tokenizer.json.
/// </summary>
public class UnigramFixtureTests(ITestOutputHelper output)
{
    internal sealed record Fixture(string Name, string ModelPath, string? TokenizerJsonGz, int MaxLength, int VocabSize,
        string[] Texts, int[][] Ids, string[] Normalized, string?[] SpmNormalize);

    internal static string Dir => Path.Combine(TestPaths.Fixtures, "unigram");

    internal static readonly string[] Models =
        ["u400-nfkc", "u1000-nfkc", "u4000-nfkc", "u1000-identity", "u1000-nfkc-cf", "u1000-nosplit", "u1000-keepspace"];

    private static readonly Lazy<string[]> Texts = new(() => ReadGz<string[]>("texts.json.gz"));

    private static T ReadGz<T>(string name)
    {
        string path = Path.Combine(Dir, name);
        Assert.True(File.Exists(path), $"missing fixture {path} (regenerate with tools/gen_unigram_fixtures.py)");
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using JsonDocument doc = JsonDocument.Parse(gz);
        if (typeof(T) == typeof(string[])) return (T)(object)doc.RootElement.EnumerateArray().Select(e => e.GetString()!).ToArray();
        throw new NotSupportedException();
    }

    internal static Fixture Load(string name)
    {
        string path = Path.Combine(Dir, name + ".cases.json.gz");
        Assert.True(File.Exists(path), $"missing fixture {path}");
        using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
        using JsonDocument doc = JsonDocument.Parse(gz);
        JsonElement r = doc.RootElement;
        string[] texts = Texts.Value;
        int[][] ids = [.. r.GetProperty("ids").EnumerateArray().Select(e => e.GetString()!.Split(' ').Select(int.Parse).ToArray())];
        string[] norm = [.. r.GetProperty("normalized").EnumerateArray().Select(e => e.GetString()!)];
        string?[] cli = [.. r.GetProperty("spm_normalize").EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? null : e.GetString())];
        Assert.Equal(texts.Length, ids.Length);
        Assert.Equal(texts.Length, norm.Length);
        Assert.Equal(texts.Length, cli.Length);
        string? json = r.GetProperty("tokenizer_json").ValueKind == JsonValueKind.String ? r.GetProperty("tokenizer_json").GetString() : null;
        return new Fixture(name, Path.Combine(Dir, r.GetProperty("model").GetString()!), json is null ? null : Path.Combine(Dir, json),
            r.GetProperty("max_length").GetInt32(), r.GetProperty("vocab_size_hf").GetInt32(), texts, ids, norm, cli);
    }

    /// <summary>Decompresses a committed tokenizer.json.gz into a temp directory and returns the file path.</summary>
    internal static string Unzip(string gzPath, string dir)
    {
        string path = Path.Combine(dir, "tokenizer.json");
        using var gz = new GZipStream(File.OpenRead(gzPath), CompressionMode.Decompress);
        using var f = File.Create(path);
        gz.CopyTo(f);
        return path;
    }

    public static TheoryData<string> AllModels() => [.. Models];

    public static TheoryData<string> JsonModels() => ["u400-nfkc", "u4000-nfkc", "u1000-identity", "u1000-keepspace"];

    private int AssertIds(XlmRobertaTokenizer tok, Fixture f, string path)
    {
        Assert.True(f.Texts.Length >= 3000, $"only {f.Texts.Length} texts");
        Assert.Equal(f.VocabSize, tok.VocabSize);
        var failures = new List<string>();
        for (int i = 0; i < f.Texts.Length; i++)
        {
            int[] got = tok.Encode(f.Texts[i], f.MaxLength);
            if (!got.AsSpan().SequenceEqual(f.Ids[i]))
                failures.Add($"{TokenizerFixtureTests.Escape(f.Texts[i])}\n   want [{string.Join(" ", f.Ids[i])}]\n   got  [{string.Join(" ", got)}]\n   pieces {string.Join("|", tok.Tokenize(f.Texts[i]))}");
        }
        output.WriteLine($"{f.Name} via {path}: {f.Texts.Length - failures.Count}/{f.Texts.Length} exact");
        Assert.True(failures.Count == 0, $"{f.Name} via {path}: {failures.Count}/{f.Texts.Length} differ:\n" + string.Join("\n", failures.Take(12)));
        return f.Texts.Length;
    }

    [Theory]
    [MemberData(nameof(AllModels))]
    public void ModelFileIdsMatchSentencePiece(string name)
    {
        Fixture f = Load(name);
        AssertIds(XlmRobertaTokenizer.LoadSentencePieceModel(f.ModelPath), f, ".model");
    }

    [Theory]
    [MemberData(nameof(JsonModels))]
    public void ConvertedTokenizerJsonIdsMatchSentencePiece(string name)
    {
        Fixture f = Load(name);
        Assert.NotNull(f.TokenizerJsonGz);
        string dir = TestPaths.NewTempDir("membed-unigram");
        try
        {
            AssertIds(XlmRobertaTokenizer.LoadTokenizerJson(Unzip(f.TokenizerJsonGz!, dir)), f, "tokenizer.json");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    /// <summary>The full normalizer against SentencePiece's normalized text (its pieces joined).</summary>
    [Theory]
    [MemberData(nameof(AllModels))]
    public void NormalizerMatchesSentencePiece(string name)
    {
        Fixture f = Load(name);
        var tok = XlmRobertaTokenizer.LoadSentencePieceModel(f.ModelPath);
        AssertNormalized(name, "normalize", tok.Normalizer, f.Texts, f.Normalized);
    }

    /// <summary>
    /// The charsmap alone against the spm_normalize CLI, which applies the model's rules and whitespace removal but
    /// neither the dummy prefix nor escaping.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllModels))]
    public void CharsmapMatchesSpmNormalizeCli(string name)
    {
        Fixture f = Load(name);
        SentencePieceModelProto proto = SentencePieceModelProto.Load(f.ModelPath);
        byte[] blob = proto.Normalizer.PrecompiledCharsmap;
        Assert.Equal(name.Contains("identity") || name.Contains("keepspace"), blob.Length == 0);
        var norm = new SentencePieceNormalizer(blob.Length == 0 ? null : PrecompiledCharsmap.Parse(blob),
            addDummyPrefix: false, removeExtraWhitespaces: true, escapeWhitespaces: false);
        AssertNormalized(name, "spm_normalize", norm, f.Texts, f.SpmNormalize);
    }

    private void AssertNormalized(string name, string what, SentencePieceNormalizer norm, string[] texts, string?[] expected)
    {
        int checkedCount = 0;
        var failures = new List<string>();
        for (int i = 0; i < texts.Length; i++)
        {
            if (expected[i] is not string want) continue;
            checkedCount++;
            string got = norm.Normalize(texts[i]);
            if (got != want)
                failures.Add($"{TokenizerFixtureTests.Escape(texts[i])}\n   want {TokenizerFixtureTests.Escape(want)}\n   got  {TokenizerFixtureTests.Escape(got)}");
        }
        output.WriteLine($"{name} {what}: {checkedCount - failures.Count}/{checkedCount} exact");
        Assert.True(checkedCount >= 3000, $"only {checkedCount} normalized texts");
        Assert.True(failures.Count == 0, $"{name} {what}: {failures.Count}/{checkedCount} differ:\n" + string.Join("\n", failures.Take(12)));
    }
}
