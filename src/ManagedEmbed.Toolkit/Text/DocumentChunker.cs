using System.Globalization;

namespace ManagedEmbed.Text;

/// <summary>One window of a document: the characters [<see cref="Start"/>, <see cref="End"/>) and their token count.</summary>
/// <param name="Start">Index of the window's first character in the document.</param>
/// <param name="End">Index one past its last character.</param>
/// <param name="Tokens">Tokens of the window's words (special tokens not counted).</param>
public readonly record struct TextChunk(int Start, int End, int Tokens);

/// <summary>
/// Splits long documents into overlapping windows of at most a given number of tokens, each mapped back to its
/// character span in the document, so a search can embed windows and report where in a document a hit lies.
/// </summary>
/// <remarks>
/// Token offsets are taken at word granularity: the text is split on whitespace (every BERT WordPiece and
/// SentencePiece/Metaspace token lies inside one whitespace-separated word), each word's tokens are counted with the
/// model's tokenizer, and windows are runs of whole words. A window holds as many words as fit in the budget; the next
/// window starts at the earliest word that keeps at most the overlap's tokens in common with the previous window
/// (and always moves forward). A word longer than the whole budget (a run of text without spaces, such as CJK) is
/// cut at character boundaries into pieces that fit.
/// </remarks>
public sealed class DocumentChunker
{
    private readonly Func<string, int> _countTokens;

    /// <summary>A chunker counting tokens with <paramref name="countTokens"/> (tokens of a text, without special tokens).</summary>
    /// <param name="countTokens">Tokens of a text, special tokens excluded.</param>
    /// <param name="tokens">Tokens per window (at least 1).</param>
    /// <param name="overlap">Tokens shared by consecutive windows (0 ≤ overlap &lt; tokens).</param>
    public DocumentChunker(Func<string, int> countTokens, int tokens, int overlap)
    {
        _countTokens = countTokens ?? throw new ArgumentNullException(nameof(countTokens));
        if (tokens < 1) throw new ManagedEmbedException($"chunk size must be at least 1 token, got {tokens}");
        if (overlap < 0 || overlap >= tokens) throw new ManagedEmbedException($"chunk overlap must be in [0, {tokens - 1}] (less than the chunk size {tokens}), got {overlap}");
        Tokens = tokens;
        Overlap = overlap;
    }

    /// <summary>Tokens per window.</summary>
    public int Tokens { get; }
    /// <summary>Tokens shared by consecutive windows (at most).</summary>
    public int Overlap { get; }

    /// <summary>The windows of <paramref name="text"/>, in order; a text without words gives one empty-or-blank window covering it.</summary>
    public IReadOnlyList<TextChunk> Chunk(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var words = Words(text);
        if (words.Count == 0) return [new TextChunk(0, text.Length, 0)];
        var chunks = new List<TextChunk>();
        int start = 0;
        while (true)
        {
            int end = start, tokens = 0;
            while (end < words.Count && (end == start || tokens + words[end].Tokens <= Tokens)) tokens += words[end++].Tokens;
            chunks.Add(new TextChunk(words[start].Start, words[end - 1].End, tokens));
            if (end == words.Count) return chunks;
            // Back off from the end while the shared tokens stay within the overlap, but always move forward.
            int next = end, shared = 0;
            while (next - 1 > start && shared + words[next - 1].Tokens <= Overlap) shared += words[--next].Tokens;
            start = next;
        }
    }

    private readonly record struct Word(int Start, int End, int Tokens);

    /// <summary>Whitespace-separated words with their token counts; words over the budget are cut into pieces that fit.</summary>
    private List<Word> Words(string text)
    {
        var words = new List<Word>();
        int i = 0;
        while (i < text.Length)
        {
            while (i < text.Length && IsSpace(text, i)) i += char.IsSurrogatePair(text, i) ? 2 : 1;
            if (i >= text.Length) break;
            int s = i;
            while (i < text.Length && !IsSpace(text, i)) i += char.IsSurrogatePair(text, i) ? 2 : 1;
            int n = _countTokens(text[s..i]);
            if (n <= Tokens) { if (n > 0) words.Add(new Word(s, i, n)); }
            else Split(text, s, i, words);
        }
        return words;
    }

    /// <summary>Cuts text[start..end) at text-element boundaries into the longest pieces of at most <see cref="Tokens"/> tokens.</summary>
    private void Split(string text, int start, int end, List<Word> words)
    {
        var bounds = new List<int>();
        var e = StringInfo.GetTextElementEnumerator(text[start..end]);
        while (e.MoveNext()) bounds.Add(start + e.ElementIndex);
        bounds.Add(end);
        int b = 0;
        while (b < bounds.Count - 1)
        {
            // The piece grows element by element while it fits; one element always goes in.
            int c = b + 1, count = _countTokens(text[bounds[b]..bounds[c]]);
            while (c + 1 < bounds.Count)
            {
                int more = _countTokens(text[bounds[b]..bounds[c + 1]]);
                if (more > Tokens) break;
                c++;
                count = more;
            }
            if (count > 0) words.Add(new Word(bounds[b], bounds[c], Math.Min(count, Tokens)));
            b = c;
        }
    }

    private static bool IsSpace(string text, int i) => char.IsWhiteSpace(text, i);
}
