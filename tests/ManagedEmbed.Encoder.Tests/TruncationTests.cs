using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

/// <summary>
/// Truncation made visible (issue 14): an encode call counts the texts longer than max_seq_length (8 here) and,
/// asked to, refuses them. Expected ids come from vocab.txt line numbers, independent of the tokenizer.
/// </summary>
public sealed class TruncationTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-trunc");
    private readonly SentenceEncoder _enc;
    private readonly int _cls, _sep, _the;

    public TruncationTests()
    {
        string vocab = Path.Combine(TestPaths.MiniLm, "vocab.txt");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Path.Combine(TestPaths.RepoRoot, "weights", "synth", "tiny-gelu-config.json"),
            VocabPath = vocab,
            Seed = 7,
            MaxSeqLength = 8,
        }, Path.Combine(_dir, "m"));
        _enc = SentenceEncoder.Load(Path.Combine(_dir, "m"), new EncoderOptions { Threads = 1 });
        var lines = File.ReadAllLines(vocab);
        _cls = Array.IndexOf(lines, "[CLS]");
        _sep = Array.IndexOf(lines, "[SEP]");
        _the = Array.IndexOf(lines, "the");
    }

    public void Dispose()
    {
        _enc.Dispose();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static string Words(int n) => string.Join(' ', Enumerable.Repeat("the", n));

    private sealed class Recorder : IProgress<EncodeProgress>
    {
        public List<EncodeProgress> Reports { get; } = new();
        public void Report(EncodeProgress value) => Reports.Add(value);
    }

    [Fact]
    public void SixWordsFitEightTokensAndSevenAreCut()
    {
        int[] fit = _enc.Tokenize(Words(6), TruncationMode.Cut, out bool cut6);
        Assert.False(cut6);
        Assert.Equal([_cls, _the, _the, _the, _the, _the, _the, _sep], fit);

        int[] cut = _enc.Tokenize(Words(7), TruncationMode.Cut, out bool cut7);
        Assert.True(cut7);
        Assert.Equal([_cls, _the, _the, _the, _the, _the, _the, _sep], cut);
        Assert.Throws<TextTooLongException>(() => _enc.Tokenize(Words(7), TruncationMode.Error, out _));
        Assert.Equal(8, _enc.Tokenize(Words(6), TruncationMode.Error, out _).Length);
    }

    [Fact]
    public void EncodeReportsTheTruncatedCountBeforeTheFirstBatchAndAfterEach()
    {
        var rec = new Recorder();
        string[] texts = ["the", Words(6), Words(7), Words(40)];
        _enc.Encode(texts, new EncodeOptions { BatchSize = 2, Progress = rec });
        Assert.Equal([new EncodeProgress(0, 4, 2), new EncodeProgress(2, 4, 2), new EncodeProgress(4, 4, 2)], rec.Reports);
    }

    [Fact]
    public void ACutTextEmbedsAsItsFirstMaxSeqLengthTokens()
    {
        float[] cut = _enc.Encode([Words(30)], new EncodeOptions()).Data;
        float[] explicitIds = _enc.EncodeIds([[_cls, _the, _the, _the, _the, _the, _the, _sep]]).Data;
        Assert.Equal(explicitIds, cut);
    }

    [Fact]
    public void ErrorModeNamesTheFirstLongTextAndEncodesNothing()
    {
        var rec = new Recorder();
        var e = Assert.Throws<TextTooLongException>(() =>
            _enc.Encode(["the", Words(6), Words(9), Words(10)], new EncodeOptions { Truncation = TruncationMode.Error, Progress = rec }));
        Assert.Equal(2, e.Index);
        Assert.Equal(8, e.MaxSeqLength);
        Assert.Equal("text 2 is longer than the model's limit of 8 tokens", e.Message);
        Assert.Empty(rec.Reports);
    }
}
