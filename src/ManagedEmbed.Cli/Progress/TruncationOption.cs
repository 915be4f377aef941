using ManagedEmbed.Encoder;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli;

/// <summary>`--truncate cut|error` of the commands that embed texts, and its error naming the input line.</summary>
internal static class TruncationOption
{
    /// <summary>The note's hint where long documents can be chunked (search).</summary>
    public const string ChunkHint = "use --chunk or --truncate error";
    /// <summary>The note's hint elsewhere.</summary>
    public const string ErrorHint = "use --truncate error to refuse them";

    /// <summary>--truncate: cut (default, as sentence-transformers) or error.</summary>
    public static TruncationMode Parse(Args a) =>
        a.GetChoice("--truncate", "cut", "cut", "error") == "error" ? TruncationMode.Error : TruncationMode.Cut;

    /// <summary>The one-line error for a text refused by --truncate error, naming where it came from.</summary>
    public static ManagedEmbedException AtLine(TextTooLongException e, string source, long line) =>
        new($"{source} line {line} is longer than the model's limit of {e.MaxSeqLength} tokens (refused by --truncate error)");

    /// <summary>
    /// With --truncate error, a tokenize-only pass over every line before anything is encoded or written, so a long
    /// line anywhere (even after the first window of a streamed input) leaves no partial output.
    /// </summary>
    public static void CheckAll(SentenceEncoder encoder, EncodeOptions options, IEnumerable<InputLine> lines, string source)
    {
        if (options.Truncation != TruncationMode.Error) return;
        string? prompt = encoder.Config.SentenceTransformers.ResolvePrompt(options.PromptName, options.Prompt);
        foreach (var line in lines)
        {
            try { encoder.Tokenize(prompt is null ? line.Text : prompt + line.Text, TruncationMode.Error, out _); }
            catch (TextTooLongException e) { throw AtLine(e, source, line.Number); }
        }
    }

    /// <summary>
    /// With --truncate error, checks the documents a collection write will embed, before anything is committed (a
    /// write in several batches would otherwise keep the batches before the long document).
    /// </summary>
    public static void CheckDocuments(string? model, IEnumerable<(string Id, string Document)> documents, string source)
    {
        if (model is null) return;
        using var encoder = SentenceEncoder.Load(ProductCommands.ResolveModel(model), new EncoderOptions { Threads = 1 });
        foreach (var (id, doc) in documents)
        {
            try { encoder.Tokenize(doc, TruncationMode.Error, out _); }
            catch (TextTooLongException e) { throw Record(e, source, id); }
        }
    }

    /// <summary>The one-line error for a collection record whose document was refused by --truncate error.</summary>
    public static ManagedEmbedException Record(TextTooLongException e, string source, string id) =>
        new($"{source}: the document of record '{id}' is longer than the model's limit of {e.MaxSeqLength} tokens (refused by --truncate error)");
}
