using System.Text;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

public sealed class LoadErrorTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-tokload");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private const string Vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##s\nHello\n";

    private void Write(string name, string content) => File.WriteAllText(Path.Combine(_dir, name), content, new UTF8Encoding(false));

    private ManagedEmbedException Fails()
    {
        var e = Assert.Throws<ManagedEmbedException>(() => BertTokenizer.Load(_dir));
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void MissingDirectory()
    {
        var e = Assert.Throws<ManagedEmbedException>(() => BertTokenizer.Load(Path.Combine(_dir, "nope")));
        Assert.Contains("nope", e.Message);
    }

    [Fact]
    public void MissingVocabulary()
    {
        Write("tokenizer_config.json", "{}");
        var e = Fails();
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains("tokenizer.json", e.Message);
    }

    [Fact]
    public void VocabularyErrorsDoNotLeakDotNetParameterNames()
    {
        Write("vocab.txt", "[PAD]\n[CLS]\n[SEP]\nhello\n");   // no [UNK]
        var e = Fails();
        Assert.Contains("vocab.txt", e.Message);
        Assert.Contains("[UNK]", e.Message);
        Assert.DoesNotContain("(Parameter", e.Message);
    }

    [Fact]
    public void AnOverLargeVocabularyIsNamed()
    {
        // A sparse file past the 2 GiB limit of whole-file reads: the runtime's message does not name the file.
        string path = Path.Combine(_dir, "vocab.txt");
        using (var fs = new FileStream(path, FileMode.Create)) fs.SetLength((long)Array.MaxLength + 1);
        var e = Fails();
        Assert.Contains(path, e.Message);
        Assert.Contains("too large", e.Message);
    }

    [Fact]
    public void VocabTxtWithoutConfigUsesHfDefaults()
    {
        Write("vocab.txt", Vocab);
        var tok = BertTokenizer.Load(_dir);
        Assert.Equal([2, 5, 6, 3], tok.Encode("HELLOs", 10));
        Assert.Equal((2, 3, 0, 1, 8), (tok.ClsId, tok.SepId, tok.PadId, tok.UnkId, tok.VocabSize));
    }

    [Fact]
    public void ConfigSettingsAreHonoured()
    {
        Write("vocab.txt", Vocab.Replace("[CLS]", "<s>"));
        Write("tokenizer_config.json", """{"do_lower_case": false, "strip_accents": true, "cls_token": {"__type": "AddedToken", "content": "<s>"}}""");
        var tok = BertTokenizer.Load(_dir);
        Assert.Equal(2, tok.ClsId);
        Assert.Equal([2, 7, 3], tok.Encode("Héllo", 10));
        Assert.False(tok.Options.LowerCase);
        Assert.True(tok.Options.StripAccents);
    }

    [Fact]
    public void VocabLinesSplitLikePythonUniversalNewlines()
    {
        Write("vocab.txt", "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\r\nhello");
        var tok = BertTokenizer.Load(_dir);
        Assert.Equal([2, 4, 3], tok.Encode("hello", 10));
        Assert.Equal(5, tok.VocabSize);
    }

    [Fact]
    public void MalformedConfig()
    {
        Write("vocab.txt", Vocab);
        Write("tokenizer_config.json", "{\"do_lower_case\": tru");
        Assert.Contains("tokenizer_config.json", Fails().Message);
    }

    [Fact]
    public void WrongTypedConfigValue()
    {
        Write("vocab.txt", Vocab);
        Write("tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
        var m = Fails().Message;
        Assert.Contains("tokenizer_config.json", m);
        Assert.Contains("do_lower_case", m);
    }

    [Fact]
    public void NonBertTokenizerClassIsRejected()
    {
        Write("vocab.txt", Vocab);
        Write("tokenizer_config.json", "{\"tokenizer_class\": \"XLMRobertaTokenizer\"}");
        var m = Fails().Message;
        Assert.Contains("tokenizer_config.json", m);
        Assert.Contains("XLMRobertaTokenizer", m);
        Write("tokenizer_config.json", "{\"tokenizer_class\": \"DistilBertTokenizerFast\"}");
        Assert.Equal(2, BertTokenizer.Load(_dir).ClsId);
    }

    [Fact]
    public void ConfigIsNotAnObject()
    {
        Write("vocab.txt", Vocab);
        Write("tokenizer_config.json", "[1, 2]");
        Assert.Contains("tokenizer_config.json", Fails().Message);
    }

    [Fact]
    public void SpecialTokenMissingFromVocabulary()
    {
        Write("vocab.txt", "[PAD]\n[UNK]\n[SEP]\nhello\n");
        var m = Fails().Message;
        Assert.Contains("vocab.txt", m);
        Assert.Contains("[CLS]", m);
    }

    [Fact]
    public void InvalidUtf8Vocabulary()
    {
        File.WriteAllBytes(Path.Combine(_dir, "vocab.txt"), [.. Encoding.ASCII.GetBytes("[PAD]\n[UNK]\n"), 0xC3, 0x28, (byte)'\n']);
        var m = Fails().Message;
        Assert.Contains("vocab.txt", m);
        Assert.Contains("UTF-8", m);
    }

    [Fact]
    public void EmptyVocabulary()
    {
        Write("vocab.txt", "");
        Assert.Contains("vocab.txt", Fails().Message);
    }

    [Fact]
    public void TokenizerJsonMalformedOrUnsupported()
    {
        Write("tokenizer.json", "{not json");
        Assert.Contains("tokenizer.json", Fails().Message);
        Write("tokenizer.json", """{"model": {"type": "BPE", "vocab": {}}}""");
        Assert.Contains("BPE", Fails().Message);
        Write("tokenizer.json", """{"model": {"type": "WordPiece"}}""");
        Assert.Contains("model.vocab", Fails().Message);
        Write("tokenizer.json", """{"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "[CLS]": 1, "[SEP]": 1}}}""");
        Assert.Contains("id 1", Fails().Message);
        Write("tokenizer.json", """{"model": {"type": "WordPiece", "vocab": {"[UNK]": -3}}}""");
        Assert.Contains("tokenizer.json", Fails().Message);
    }

    [Fact]
    public void TokenizerJsonVocabulary()
    {
        Write("tokenizer.json", """{"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 6, "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "hello": 5, "##s": 6}}}""");
        var tok = BertTokenizer.Load(_dir);
        Assert.Equal([2, 5, 6, 3], tok.Encode("Hellos", 10));
        Assert.Equal([2, 1, 3], tok.Encode("helloss", 10)); // 7 code points > max_input_chars_per_word 6
        Assert.Equal(7, tok.VocabSize);
        Assert.Equal("", tok.IdToToken(4));
    }
}
