using System.Text.Json;
using BenchmarkDotNet.Attributes;
using ManagedEmbed.Encoder.Tokenization;
using ML = Microsoft.ML.Tokenizers;

namespace ManagedEmbed.Benchmarks;

/// <summary>
/// Tokenizer throughput on the embedding hot path: HF-exact BertTokenizer.Encode(text, 256) over a batch of texts,
/// with Microsoft.ML.Tokenizers' BertTokenizer (not HF-exact) as a throughput peer. Needs ../shared beside the checkout.
/// </summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    private BertTokenizer _tok = null!;
    private ML.BertTokenizer _ml = null!;
    private string[] _english = [], _unicode = [];

    /// <summary>Which corpus: "english" (ASCII sentences of 5–40 vocabulary words) or "unicode" (the tokenizer fixture).</summary>
    [Params("english", "unicode")]
    public string Corpus { get; set; } = "english";

    [GlobalSetup]
    public void Setup()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "ManagedEmbed.sln"))) root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("repo root not found");
        string model = Path.Combine(root, "..", "shared", "models", "all-MiniLM-L6-v2");
        _tok = BertTokenizer.Load(model);
        _ml = ML.BertTokenizer.Create(Path.Combine(model, "vocab.txt"), new ML.BertOptions { LowerCaseBeforeTokenization = true });
        var rnd = new Random(1);
        string[] words = File.ReadAllLines(Path.Combine(model, "vocab.txt")).Where(w => w.Length > 2 && w.All(char.IsAsciiLetterLower)).ToArray();
        _english = Enumerable.Range(0, 500).Select(_ => string.Join(" ", Enumerable.Range(0, rnd.Next(5, 40))
            .Select(_ => rnd.Next(8) == 0 ? words[rnd.Next(words.Length)] + "ing," : words[rnd.Next(words.Length)]))).ToArray();
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(root, "tests", "fixtures", "tokenizer", "minilm-uncased.json")));
        _unicode = doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("text").GetString()!).ToArray();
    }

    private string[] Texts => Corpus == "english" ? _english : _unicode;

    /// <summary>Characters per operation (for chars/s).</summary>
    public long Chars => Texts.Sum(t => (long)t.Length);

    [Benchmark(Baseline = true)]
    public int ManagedEmbedEncode()
    {
        int n = 0;
        foreach (string t in Texts) n += _tok.Encode(t, 256).Length;
        return n;
    }

    [Benchmark]
    public int MicrosoftMlBertTokenizer()
    {
        int n = 0;
        foreach (string t in Texts) n += _ml.EncodeToIds(t, 256, out _, out _).Count;
        return n;
    }
}
