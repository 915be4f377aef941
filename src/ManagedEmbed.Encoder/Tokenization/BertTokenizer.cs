using System.Buffers;
using System.Text;
using Microsoft.ML.Tokenizers;

namespace ManagedEmbed.Encoder.Tokenization;

/// <summary>
/// A BERT WordPiece tokenizer whose ids equal Hugging Face's BertTokenizer / BertTokenizerFast with truncation.
/// </summary>
/// <remarks>
/// <para>Pipeline (HF BasicTokenizer + WordpieceTokenizer), all over Unicode code points:</para>
/// <list type="number">
/// <item>special tokens written literally in the text ("[SEP]", ...) are matched first, as HF's added-token split does;</item>
/// <item>clean: drop NUL, U+FFFD and every C* character except \t \n \r; lone UTF-16 surrogates count as U+FFFD and
/// are therefore dropped too (they cannot occur in Python/Rust strings decoded from UTF-8);</item>
/// <item>whitespace (space, \t, \n, \r, Zs, Zl, Zp) separates words; CJK ideographs become single-character words;</item>
/// <item>uncased: lowercase each character with its full Unicode mapping (U+0130 → "i\u0307"; capital sigma → σ,
/// as both HF implementations do; Python's final-sigma rule is opt-in, see
/// <see cref="BertTokenizerOptions.LowercaseFinalSigma"/>);
/// strip accents (NFD, drop Mn) when StripAccents is true, or null and lowercasing;</item>
/// <item>split each word on punctuation (ASCII 33–47, 58–64, 91–96, 123–126 and Unicode P*);</item>
/// <item>WordPiece, greedy longest-match-first with the ## prefix; a piece of more than MaxInputCharsPerWord code
/// points, or one that cannot be fully matched, becomes a single [UNK].</item>
/// </list>
/// <para>The WordPiece step runs on Microsoft.ML.Tokenizers' <see cref="WordPieceTokenizer"/>, fed one piece at a
/// time with its own normalization and pre-tokenization turned off, with these corrections (see the constructor):
/// its character limit counts UTF-16 units where HF counts code points, so it is given twice our limit and the
/// code-point limit is enforced here; its vocabulary loader throws on duplicate tokens where HF keeps the last id,
/// so duplicates are resolved before it sees them.</para>
/// <para>Instances are immutable and safe for concurrent use.</para>
/// </remarks>
public sealed partial class BertTokenizer : ITokenizer
{
    private readonly string[] _idToToken;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly Lazy<WordPieceTokenizer> _wordPiece;
    private readonly bool _lowerCase, _finalSigma, _stripAccents, _chineseChars;
    private readonly int _maxCharsPerWord;
    private readonly string[] _specialTokens; // longest first
    private readonly int[] _specialIds;
    private readonly SearchValues<char>? _specialFirstChars;
    private readonly string[] _normalizedTokens; // added tokens matched after normalization, normalized, longest first
    private readonly int[] _normalizedIds;
    private readonly SearchValues<char>? _normalizedFirstChars;

    /// <summary>Id of the [CLS] token that starts every encoded sequence.</summary>
    public int ClsId { get; }

    /// <summary>Id of the [SEP] token that ends every encoded sequence.</summary>
    public int SepId { get; }

    /// <summary>Id of the [PAD] token.</summary>
    public int PadId { get; }

    /// <summary>Id of the [UNK] token.</summary>
    public int UnkId { get; }

    /// <summary>Number of id slots (highest id + 1); every id produced is below it.</summary>
    public int VocabSize => _idToToken.Length;

    /// <summary>The options this tokenizer was built with.</summary>
    public BertTokenizerOptions Options { get; }

    /// <summary>"WordPiece", plus the file it was read from when loaded from a model directory.</summary>
    public string Description { get; private set; } = "WordPiece";

    /// <summary>Creates a tokenizer from an in-memory vocabulary.</summary>
    /// <param name="vocabulary">Token of each id (index = id), as the lines of vocab.txt. When a token occurs more
    /// than once the last id wins, as in HF. Empty strings are allowed as unused slots.</param>
    /// <param name="options">Normalization and special-token settings; null means the HF BERT defaults (uncased).</param>
    /// <exception cref="ArgumentException">A token is null, the vocabulary is empty, or a required special token
    /// (unk, cls, sep, pad) is missing.</exception>
    public BertTokenizer(IReadOnlyList<string> vocabulary, BertTokenizerOptions? options = null)
        : this(CopyOf(vocabulary), options, owned: true)
    {
    }

    /// <summary>The caller's vocabulary copied, so later changes to it cannot reach this immutable tokenizer.</summary>
    private static string[] CopyOf(IReadOnlyList<string> vocabulary)
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        var tokens = new string[vocabulary.Count];
        for (int id = 0; id < tokens.Length; id++)
            tokens[id] = vocabulary[id] ?? throw new ArgumentException($"vocabulary entry {id} is null", nameof(vocabulary));
        return tokens;
    }

    /// <summary>Takes ownership of <paramref name="vocabulary"/> (a fresh array no one else holds): no copy at load.</summary>
    private BertTokenizer(string[] vocabulary, BertTokenizerOptions? options, bool owned)
    {
        System.Diagnostics.Debug.Assert(owned);
        options ??= new BertTokenizerOptions();
        if (vocabulary.Length == 0) throw new ArgumentException("the vocabulary is empty", nameof(vocabulary));
        if (options.MaxInputCharsPerWord <= 0 || options.MaxInputCharsPerWord > 1_000_000)
            throw new ArgumentException($"MaxInputCharsPerWord must be in 1..1000000, got {options.MaxInputCharsPerWord}", nameof(options));
        ArgumentException.ThrowIfNullOrEmpty(options.ContinuingSubwordPrefix, nameof(options.ContinuingSubwordPrefix));
        Options = options;

        _idToToken = vocabulary;
        var dict = new Dictionary<string, int>(vocabulary.Length, StringComparer.Ordinal);
        for (int id = 0; id < vocabulary.Length; id++)
        {
            string token = vocabulary[id];
            if (token.Length != 0) dict[token] = id; // last occurrence wins, like HF's load_vocab
        }
        // One table, read by span: a FrozenDictionary would cost a second build (≈ 4 ms at start-up) for no
        // measurable gain in lookups at this size.
        _lookup = dict.GetAlternateLookup<ReadOnlySpan<char>>();

        int Require(string token, string what) => token is not null && dict.TryGetValue(token, out int id)
            ? id
            : throw new ArgumentException($"the {what} token '{token}' is not in the vocabulary", nameof(vocabulary));
        UnkId = Require(options.UnknownToken, "unknown");
        ClsId = Require(options.ClsToken, "cls");
        SepId = Require(options.SepToken, "sep");
        PadId = Require(options.PadToken, "pad");
        if (!IsMatchable(options.UnknownToken))
            throw new ArgumentException($"the unknown token '{options.UnknownToken}' must not contain whitespace or control characters", nameof(options));

        _lowerCase = options.LowerCase;
        _finalSigma = options.LowercaseFinalSigma;
        _stripAccents = options.StripAccents ?? options.LowerCase;
        _chineseChars = options.TokenizeChineseChars;
        _maxCharsPerWord = options.MaxInputCharsPerWord;

        // Added tokens (tokenizer.json) override the configured specials of the same text, as they are what HF's
        // fast tokenizer matches; raw ones join the specials, normalized ones are matched after normalization.
        var added = options.AddedTokens ?? [];
        foreach (var a in added)
        {
            ArgumentException.ThrowIfNullOrEmpty(a?.Content, nameof(options.AddedTokens));
            if ((uint)a.Id >= (uint)vocabulary.Length)
                throw new ArgumentException($"added token '{a.Content}' has id {a.Id}, outside the vocabulary of {vocabulary.Length}", nameof(vocabulary));
        }
        var specials = new List<(string Token, int Id)>();
        foreach (string? t in new[] { options.UnknownToken, options.ClsToken, options.SepToken, options.PadToken, options.MaskToken })
            if (!string.IsNullOrEmpty(t) && dict.TryGetValue(t, out int sid) && !specials.Exists(s => s.Token == t)
                && !added.Any(a => a.Content == t))
                specials.Add((t, sid));
        foreach (var a in added)
            if (!a.Normalized && !specials.Exists(s => s.Token == a.Content)) specials.Add((a.Content, a.Id));
        specials.Sort((a, b) => b.Token.Length.CompareTo(a.Token.Length));
        _specialTokens = options.RecognizeSpecialTokensInText ? specials.ConvertAll(s => s.Token).ToArray() : [];
        _specialIds = options.RecognizeSpecialTokensInText ? specials.ConvertAll(s => s.Id).ToArray() : [];
        _specialFirstChars = _specialTokens.Length == 0 ? null
            : SearchValues.Create(string.Concat(_specialTokens.Select(t => t[0]).Distinct()));

        var normalized = new List<(string Token, int Id)>();
        if (options.RecognizeSpecialTokensInText)
            foreach (var a in added)
                if (a.Normalized && NormalizeText(a.Content) is { Length: > 0 } n && !normalized.Exists(x => x.Token == n))
                    normalized.Add((n, a.Id));
        normalized.Sort((a, b) => b.Token.Length.CompareTo(a.Token.Length));
        _normalizedTokens = normalized.ConvertAll(x => x.Token).ToArray();
        _normalizedIds = normalized.ConvertAll(x => x.Id).ToArray();
        // ASCII text normalizes by lowercasing (and dropping controls), so a match needs a first character in either case.
        _normalizedFirstChars = _normalizedTokens.Length == 0 ? null
            : SearchValues.Create(string.Concat(_normalizedTokens.SelectMany(t => new[] { t[0], char.ToUpperInvariant(t[0]) }).Distinct()));

        // Built on the first piece that is not a whole vocabulary token (its construction is about half of a cold
        // load, and a text of whole-word tokens never needs it). Its inputs are validated above, so it cannot fail.
        _wordPiece = new Lazy<WordPieceTokenizer>(() => CreateWordPiece(_idToToken, dict, options), LazyThreadSafetyMode.ExecutionAndPublication);
    }

    /// <summary>
    /// Builds the Microsoft.ML.Tokenizers WordPiece model over the same ids. Its loader assigns id = line number,
    /// skips empty lines and throws on duplicates, so every id slot that is not the winning occurrence of a
    /// matchable token is written as an empty line. Tokens that can never match a piece (they contain whitespace,
    /// control/format characters or invalid UTF-16, all removed or split by normalization) are blanked too; this
    /// also keeps line breaks and lone surrogates out of the stream.
    /// </summary>
    private static WordPieceTokenizer CreateWordPiece(string[] idToToken, Dictionary<string, int> dict, BertTokenizerOptions options)
    {
        using var ms = new MemoryStream();
        using (var w = new StreamWriter(ms, new UTF8Encoding(false, true), 1 << 16, leaveOpen: true))
        {
            w.NewLine = "\n";
            for (int id = 0; id < idToToken.Length; id++)
            {
                string t = idToToken[id];
                w.WriteLine(t.Length != 0 && dict[t] == id && IsMatchable(t) ? t : "");
            }
        }
        ms.Position = 0;
        return WordPieceTokenizer.Create(ms, new WordPieceOptions
        {
            UnknownToken = options.UnknownToken,
            ContinuingSubwordPrefix = options.ContinuingSubwordPrefix,
            // ML counts UTF-16 units, HF counts code points: give it the UTF-16 bound of our code-point limit and
            // enforce the real limit ourselves (WordPiece below).
            MaxInputCharsPerWord = 2 * options.MaxInputCharsPerWord,
        });
    }

    private static bool IsMatchable(string token)
    {
        ReadOnlySpan<char> s = token;
        while (!s.IsEmpty)
        {
            if (Rune.DecodeFromUtf16(s, out Rune r, out int used) != OperationStatus.Done) return false;
            if (UnicodeTables.IsDropped(r.Value) || UnicodeTables.IsWhitespace(r.Value)) return false;
            s = s[used..];
        }
        return true;
    }

    /// <inheritdoc/>
    public bool IsSpecial(int id) => id == ClsId || id == SepId || id == PadId;

    /// <summary>The token string of an id.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The id is not below <see cref="VocabSize"/>.</exception>
    public string IdToToken(int id) =>
        (uint)id < (uint)_idToToken.Length ? _idToToken[id] : throw new ArgumentOutOfRangeException(nameof(id), id, "id is outside the vocabulary");

    /// <summary>
    /// Encodes a text as [CLS] wordpieces [SEP], keeping the first maxLength − 2 wordpieces (HF truncation=True).
    /// </summary>
    /// <param name="text">Any string; lone surrogates are treated as U+FFFD (dropped).</param>
    /// <param name="maxLength">Maximum total length including [CLS] and [SEP]; at least 2.</param>
    public int[] Encode(string text, int maxLength)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (maxLength < 2) throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "maxLength must be at least 2 ([CLS] and [SEP])");
        var ids = new IdBuffer(maxLength - 2);
        var scratch = new Scratch();
        try
        {
            Run(text, ref ids, scratch);
            var result = new int[ids.Count + 2];
            result[0] = ClsId;
            ids.Items.AsSpan(0, ids.Count).CopyTo(result.AsSpan(1));
            result[^1] = SepId;
            return result;
        }
        finally
        {
            ids.Dispose();
            scratch.Dispose();
        }
    }

    /// <summary>Encodes a text into wordpiece ids without special tokens and without truncation.</summary>
    public int[] EncodeWithoutSpecialTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new IdBuffer(int.MaxValue);
        var scratch = new Scratch();
        try
        {
            Run(text, ref ids, scratch);
            return ids.Items.AsSpan(0, ids.Count).ToArray();
        }
        finally
        {
            ids.Dispose();
            scratch.Dispose();
        }
    }

    /// <summary>The wordpiece strings of a text (no [CLS]/[SEP], no truncation).</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        int[] ids = EncodeWithoutSpecialTokens(text);
        var tokens = new string[ids.Length];
        for (int i = 0; i < ids.Length; i++) tokens[i] = _idToToken[ids[i]];
        return tokens;
    }

    /// <summary>
    /// The normalized, pre-tokenized pieces of a text in order (before WordPiece), with Special=true for special
    /// tokens matched in the text. For tests and diagnostics.
    /// </summary>
    internal List<(string Piece, bool Special)> PreTokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new IdBuffer(int.MaxValue);
        var scratch = new Scratch { Collect = [] };
        try
        {
            Run(text, ref ids, scratch);
            return scratch.Collect;
        }
        finally
        {
            ids.Dispose();
            scratch.Dispose();
        }
    }

    // ---- pipeline ----

    private void Run(ReadOnlySpan<char> text, ref IdBuffer ids, Scratch s)
    {
        if (ids.Full) return;
        if (_specialFirstChars is null)
        {
            NormalizedSplit(text, ref ids, s);
            return;
        }
        int start = 0, i = 0;
        while (i < text.Length)
        {
            int k = text[i..].IndexOfAny(_specialFirstChars);
            if (k < 0) break;
            i += k;
            int match = -1;
            for (int t = 0; t < _specialTokens.Length; t++)
                if (text[i..].StartsWith(_specialTokens[t], StringComparison.Ordinal)) { match = t; break; }
            if (match < 0)
            {
                i++;
                continue;
            }
            if (!NormalizedSplit(text[start..i], ref ids, s)) return;
            s.Collect?.Add((_specialTokens[match], true));
            ids.Add(_specialIds[match]);
            if (ids.Full) return;
            i += _specialTokens[match].Length;
            start = i;
        }
        NormalizedSplit(text[start..], ref ids, s);
    }

    /// <summary>
    /// HF's second added-token pass: tokens marked normalized are matched (leftmost, longest first) in the normalized
    /// text of a segment; the text between them is tokenized as usual. Returns false once the id budget is full.
    /// </summary>
    private bool NormalizedSplit(ReadOnlySpan<char> seg, ref IdBuffer ids, Scratch s)
    {
        if (_normalizedFirstChars is null || seg.IsEmpty || (Ascii.IsValid(seg) && seg.IndexOfAny(_normalizedFirstChars) < 0))
            return Segment(seg, ref ids, s);
        ReadOnlySpan<char> text = NormalizeText(seg);
        int start = 0, i = 0;
        while (i < text.Length)
        {
            int k = text[i..].IndexOfAny(_normalizedFirstChars);
            if (k < 0) break;
            i += k;
            int match = -1;
            for (int t = 0; t < _normalizedTokens.Length; t++)
                if (text[i..].StartsWith(_normalizedTokens[t], StringComparison.Ordinal)) { match = t; break; }
            if (match < 0)
            {
                i++;
                continue;
            }
            if (!Segment(text[start..i], ref ids, s)) return false;
            s.Collect?.Add((_normalizedTokens[match], true));
            ids.Add(_normalizedIds[match]);
            if (ids.Full) return false;
            i += _normalizedTokens[match].Length;
            start = i;
        }
        // Without a match the raw segment goes on unchanged (normalizing again is then a no-op anyway).
        return start == 0 ? Segment(seg, ref ids, s) : Segment(text[start..], ref ids, s);
    }

    /// <summary>
    /// The whole-text normalization of HF's BertNormalizer with this tokenizer's settings: drop controls, whitespace
    /// to ' ', spaces around CJK ideographs, lowercase, strip accents (per code point, no final sigma).
    /// </summary>
    private string NormalizeText(ReadOnlySpan<char> text)
    {
        var sb = new StringBuilder(text.Length + 8);
        Span<int> one = stackalloc int[1], lower = stackalloc int[2], nfd = stackalloc int[8];
        for (int i = 0; i < text.Length;)
        {
            int cp = Rune.DecodeFromUtf16(text[i..], out Rune r, out int used) == OperationStatus.Done ? r.Value : 0xFFFD;
            i += used;
            if (UnicodeTables.IsDropped(cp)) continue;
            if (UnicodeTables.IsWhitespace(cp))
            {
                sb.Append(' ');
                continue;
            }
            if (_chineseChars && UnicodeTables.IsCjkIdeograph(cp))
            {
                sb.Append(' ').Append(r.ToString()).Append(' ');
                continue;
            }
            one[0] = cp;
            ReadOnlySpan<int> lowered = _lowerCase ? lower[..UnicodeTables.Lower(one, lower)] : one;
            foreach (int c in lowered)
            {
                if (!_stripAccents)
                {
                    sb.Append(new Rune(c).ToString());
                    continue;
                }
                one[0] = c;
                int n = UnicodeTables.Nfd(one, nfd);
                for (int j = 0; j < n; j++)
                    if (!UnicodeTables.IsNonSpacingMark(nfd[j])) sb.Append(new Rune(nfd[j]).ToString());
            }
        }
        return sb.ToString();
    }

    /// <summary>Clean + whitespace/CJK split of a plain segment. Returns false once the id budget is full.</summary>
    private bool Segment(ReadOnlySpan<char> seg, ref IdBuffer ids, Scratch s)
    {
        if (seg.IsEmpty) return true;
        if (System.Text.Ascii.IsValid(seg) && s.Collect is null) return AsciiSegment(seg, ref ids, s);
        Span<int> raw = s.Raw(seg.Length);
        int len = 0;
        bool ascii = true;
        for (int i = 0; i < seg.Length;)
        {
            int cp = seg[i];
            if (cp < 0x80) i++;
            else
            {
                cp = Rune.DecodeFromUtf16(seg[i..], out Rune r, out int used) == OperationStatus.Done ? r.Value : 0xFFFD;
                i += used;
            }
            if (UnicodeTables.IsDropped(cp)) continue;
            if (UnicodeTables.IsWhitespace(cp))
            {
                if (len > 0 && !Word(raw[..len], ascii, ref ids, s)) return false;
                len = 0;
                ascii = true;
                continue;
            }
            if (_chineseChars && cp >= 0x3400 && UnicodeTables.IsCjkIdeograph(cp))
            {
                if (len > 0 && !Word(raw[..len], ascii, ref ids, s)) return false;
                raw[0] = cp;
                if (!Word(raw[..1], false, ref ids, s)) return false;
                len = 0;
                ascii = true;
                continue;
            }
            raw[len++] = cp;
            ascii &= cp < 0x80;
        }
        return len == 0 || Word(raw[..len], ascii, ref ids, s);
    }

    /// <summary>
    /// The same pipeline for an all-ASCII segment, straight on chars: no code point buffers, and lowercasing, accent
    /// stripping (a no-op on ASCII), CJK and final sigma need no tables.
    /// </summary>
    private bool AsciiSegment(ReadOnlySpan<char> seg, ref IdBuffer ids, Scratch s)
    {
        Span<char> piece = s.Chars(seg.Length);
        int len = 0;
        foreach (char ch in seg)
        {
            char c = ch;
            if (c < ' ' ? c is not ('\t' or '\n' or '\r') : c == '\x7f') continue; // dropped controls
            if (c is ' ' or '\t' or '\n' or '\r')
            {
                if (len > 0 && !WordPieceChars(piece[..len], len, ref ids)) return false;
                len = 0;
                continue;
            }
            if (UnicodeTables.IsPunctuation(c))
            {
                if (len > 0 && !WordPieceChars(piece[..len], len, ref ids)) return false;
                len = 0;
                piece[0] = c;
                if (!WordPieceChars(piece[..1], 1, ref ids)) return false;
                continue;
            }
            if (_lowerCase && (uint)(c - 'A') <= 'Z' - 'A') c = (char)(c + 32);
            piece[len++] = c;
        }
        return len == 0 || WordPieceChars(piece[..len], len, ref ids);
    }

    /// <summary>Lowercase / strip accents one whitespace-delimited word, then split it on punctuation.</summary>
    private bool Word(Span<int> word, bool ascii, ref IdBuffer ids, Scratch s)
    {
        ReadOnlySpan<int> w = word;
        if (ascii)
        {
            if (_lowerCase)
                for (int i = 0; i < word.Length; i++)
                    if ((uint)(word[i] - 'A') <= 'Z' - 'A') word[i] += 32;
        }
        else
        {
            if (_lowerCase)
            {
                Span<int> lower = s.Lower(2 * w.Length);
                w = lower[..UnicodeTables.Lower(w, lower, _finalSigma)];
            }
            if (_stripAccents)
            {
                Span<int> nfd = s.Nfd(4 * w.Length);
                int n = UnicodeTables.Nfd(w, nfd), m = 0;
                for (int i = 0; i < n; i++)
                    if (!UnicodeTables.IsNonSpacingMark(nfd[i])) nfd[m++] = nfd[i];
                w = nfd[..m];
            }
        }

        int start = 0;
        for (int i = 0; i < w.Length; i++)
        {
            int cp = w[i];
            bool punct = UnicodeTables.IsPunctuation(cp);
            if (!punct && !UnicodeTables.IsWhitespace(cp)) continue;
            if (i > start && !WordPiece(w[start..i], ref ids, s)) return false;
            if (punct && !WordPiece(w.Slice(i, 1), ref ids, s)) return false;
            start = i + 1;
        }
        return start >= w.Length || WordPiece(w[start..], ref ids, s);
    }

    /// <summary>WordPiece of one piece (code points). Returns false once the id budget is full.</summary>
    private bool WordPiece(ReadOnlySpan<int> piece, ref IdBuffer ids, Scratch s)
    {
        if (s.Collect is not null)
        {
            var sb = new StringBuilder(piece.Length);
            foreach (int cp in piece) sb.Append(new Rune(cp).ToString());
            s.Collect.Add((sb.ToString(), false));
            return true;
        }
        Span<char> chars = s.Chars(2 * piece.Length);
        int n = 0;
        foreach (int cp in piece)
        {
            if (cp < 0x10000) chars[n++] = (char)cp;
            else
            {
                chars[n++] = (char)(0xD7C0 + (cp >> 10));
                chars[n++] = (char)(0xDC00 | (cp & 0x3FF));
            }
        }
        return WordPieceChars(chars[..n], piece.Length, ref ids);
    }

    /// <summary>WordPiece of one piece given as UTF-16 with its code point count.</summary>
    private bool WordPieceChars(ReadOnlySpan<char> text, int codePoints, ref IdBuffer ids)
    {
        if (codePoints > _maxCharsPerWord) // code points, as HF (ML.Tokenizers would count UTF-16 units)
        {
            ids.Add(UnkId);
            return !ids.Full;
        }
        // The greedy algorithm's first probe is the whole piece; answering it from our own dictionary is identical
        // and avoids the per-call allocations of Tokenizer.EncodeToIds for the common whole-word case.
        if (_lookup.TryGetValue(text, out int id))
        {
            ids.Add(id);
            return !ids.Full;
        }
        IReadOnlyList<int> pieces = _wordPiece.Value.EncodeToIds(text, considerPreTokenization: false, considerNormalization: false);
        for (int i = 0; i < pieces.Count; i++)
        {
            ids.Add(pieces[i]);
            if (ids.Full) return false;
        }
        return true;
    }

    private struct IdBuffer(int limit) : IDisposable
    {
        public int[] Items = ArrayPool<int>.Shared.Rent(Math.Min(limit, 256) is var c && c > 0 ? c : 16);
        public int Count;
        public readonly int Limit = limit;

        public readonly bool Full => Count >= Limit;

        public void Add(int id)
        {
            if (Count == Items.Length)
            {
                int[] bigger = ArrayPool<int>.Shared.Rent(Items.Length * 2);
                Items.AsSpan(0, Count).CopyTo(bigger);
                ArrayPool<int>.Shared.Return(Items);
                Items = bigger;
            }
            Items[Count++] = id;
        }

        public void Dispose()
        {
            ArrayPool<int>.Shared.Return(Items);
            Items = [];
        }
    }

    /// <summary>Per-call pooled buffers (raw word, lowercased, NFD, UTF-16 piece).</summary>
    private sealed class Scratch : IDisposable
    {
        private int[]? _raw, _lower, _nfd;
        private char[]? _chars;

        /// <summary>When set, pieces are collected here instead of being WordPiece-encoded (PreTokenize).</summary>
        public List<(string Piece, bool Special)>? Collect;

        public Span<int> Raw(int n) => Get(ref _raw, n);
        public Span<int> Lower(int n) => Get(ref _lower, n);
        public Span<int> Nfd(int n) => Get(ref _nfd, n);

        public Span<char> Chars(int n)
        {
            if (_chars is null || _chars.Length < n)
            {
                if (_chars is not null) ArrayPool<char>.Shared.Return(_chars);
                _chars = ArrayPool<char>.Shared.Rent(Math.Max(n, 64));
            }
            return _chars;
        }

        private static Span<int> Get(ref int[]? a, int n)
        {
            if (a is null || a.Length < n)
            {
                if (a is not null) ArrayPool<int>.Shared.Return(a);
                a = ArrayPool<int>.Shared.Rent(Math.Max(n, 64));
            }
            return a;
        }

        public void Dispose()
        {
            if (_raw is not null) ArrayPool<int>.Shared.Return(_raw);
            if (_lower is not null) ArrayPool<int>.Shared.Return(_lower);
            if (_nfd is not null) ArrayPool<int>.Shared.Return(_nfd);
            if (_chars is not null) ArrayPool<char>.Shared.Return(_chars);
            _raw = _lower = _nfd = null;
            _chars = null;
        }
    }
}
