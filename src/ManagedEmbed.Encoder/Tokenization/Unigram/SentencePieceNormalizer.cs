using System.Buffers;
using System.Text;

namespace ManagedEmbed.Encoder.Tokenization.Unigram;

/// <summary>
/// SentencePiece's text normalizer (normalizer.cc, Normalizer::Normalize): at each position the longest charsmap rule
/// (else one UTF-8 character; a malformed byte becomes U+FFFD) is applied, then, as the spec asks, leading, trailing
/// and repeated spaces are removed, a dummy-prefix space is added and ' ' is escaped to U+2581.
/// </summary>
/// <remarks>Only the byte ' ' counts as whitespace here, after the charsmap: nmt_nfkc maps tabs, NBSP, U+3000 and the
/// other Unicode spaces to ' ', the identity rule leaves them as ordinary characters, exactly as SentencePiece does.</remarks>
public sealed class SentencePieceNormalizer
{
    /// <summary>The escaped whitespace U+2581 (LOWER ONE EIGHTH BLOCK), "▁".</summary>
    public const char SpaceSymbol = '\u2581';

    private static readonly byte[] SpaceSymbolUtf8 = [0xE2, 0x96, 0x81];
    private static readonly byte[] ReplacementCharUtf8 = [0xEF, 0xBF, 0xBD];

    private readonly PrecompiledCharsmap? _charsmap;

    /// <summary>Creates a normalizer.</summary>
    /// <param name="charsmap">The compiled rules, or null for none (identity).</param>
    /// <param name="addDummyPrefix">Prepend a space to non-empty text.</param>
    /// <param name="removeExtraWhitespaces">Drop leading and trailing spaces and collapse runs of spaces.</param>
    /// <param name="escapeWhitespaces">Write ' ' as U+2581.</param>
    public SentencePieceNormalizer(PrecompiledCharsmap? charsmap, bool addDummyPrefix, bool removeExtraWhitespaces, bool escapeWhitespaces)
    {
        _charsmap = charsmap;
        AddDummyPrefix = addDummyPrefix;
        RemoveExtraWhitespaces = removeExtraWhitespaces;
        EscapeWhitespaces = escapeWhitespaces;
    }

    /// <summary>Whether a space is prepended to non-empty text.</summary>
    public bool AddDummyPrefix { get; }

    /// <summary>Whether leading/trailing spaces are dropped and runs of spaces collapsed.</summary>
    public bool RemoveExtraWhitespaces { get; }

    /// <summary>Whether ' ' is written as U+2581.</summary>
    public bool EscapeWhitespaces { get; }

    /// <summary>Normalizes a string (lone surrogates are encoded as U+FFFD first).</summary>
    public string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Encoding.UTF8.GetString(Normalize(Encoding.UTF8.GetBytes(text)));
    }

    /// <summary>Normalizes UTF-8 text into UTF-8.</summary>
    public byte[] Normalize(ReadOnlySpan<byte> input)
    {
        var output = new ArrayBufferWriter<byte>(input.Length * 3 / 2 + 8);
        Normalize(input, output);
        return output.WrittenSpan.ToArray();
    }

    /// <summary>Normalizes UTF-8 text, appending UTF-8 to <paramref name="output"/>.</summary>
    public void Normalize(ReadOnlySpan<byte> input, ArrayBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        int start = output.WrittenCount;
        if (RemoveExtraWhitespaces)
        {
            // Leading input that normalizes to exactly one space is skipped (the rule output, not the raw bytes).
            while (!input.IsEmpty)
            {
                int n = NormalizePrefix(input, out ReadOnlySpan<byte> sp);
                if (!(sp.Length == 1 && sp[0] == (byte)' ')) break;
                input = input[n..];
            }
        }
        if (input.IsEmpty) return;
        if (AddDummyPrefix) AppendSpace(output);

        bool prevSpace = RemoveExtraWhitespaces;
        while (!input.IsEmpty)
        {
            int n = NormalizePrefix(input, out ReadOnlySpan<byte> sp);
            if (prevSpace)
                while (!sp.IsEmpty && sp[0] == (byte)' ') sp = sp[1..];
            if (!sp.IsEmpty)
            {
                foreach (byte b in sp)
                {
                    if (b == (byte)' ' && EscapeWhitespaces) output.Write(SpaceSymbolUtf8);
                    else
                    {
                        output.GetSpan(1)[0] = b;
                        output.Advance(1);
                    }
                }
                prevSpace = sp[^1] == (byte)' ';
            }
            input = input[n..];
            if (!RemoveExtraWhitespaces) prevSpace = false;
        }

        if (RemoveExtraWhitespaces)
        {
            ReadOnlySpan<byte> space = EscapeWhitespaces ? SpaceSymbolUtf8 : " "u8;
            int len = output.WrittenCount - start;
            ReadOnlySpan<byte> written = output.WrittenSpan[start..];
            int trimmed = len;
            while (trimmed >= space.Length && written[..trimmed].EndsWith(space)) trimmed -= space.Length;
            if (trimmed != len)
            {
                byte[] keep = output.WrittenSpan[..(start + trimmed)].ToArray();
                output.ResetWrittenCount();
                output.Write(keep);
            }
        }
    }

    private void AppendSpace(ArrayBufferWriter<byte> output)
    {
        if (EscapeWhitespaces) output.Write(SpaceSymbolUtf8);
        else output.Write(" "u8);
    }

    /// <summary>The replacement of the longest rule at the start of <paramref name="input"/>, else its first character.</summary>
    private int NormalizePrefix(ReadOnlySpan<byte> input, out ReadOnlySpan<byte> replacement)
    {
        if (_charsmap is not null && _charsmap.TryMatchPrefix(input, out int length, out replacement)) return length;
        if (Rune.DecodeFromUtf8(input, out _, out int consumed) != OperationStatus.Done)
        {
            replacement = ReplacementCharUtf8;
            return 1;   // SentencePiece consumes one byte of a malformed sequence
        }
        replacement = input[..consumed];
        return consumed;
    }
}
