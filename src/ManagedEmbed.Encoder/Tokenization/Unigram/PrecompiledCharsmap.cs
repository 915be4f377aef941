using System.Buffers.Binary;

namespace ManagedEmbed.Encoder.Tokenization.Unigram;

/// <summary>
/// SentencePiece's compiled normalization rules (<c>NormalizerSpec.precompiled_charsmap</c>, also the
/// <c>Precompiled</c> normalizer of a Hugging Face tokenizer.json): a little-endian uint32 trie size, a Darts-clone
/// double-array trie of that many bytes mapping UTF-8 source strings to offsets, then the NUL-terminated UTF-8
/// replacement strings those offsets point into.
/// </summary>
public sealed class PrecompiledCharsmap
{
    private readonly uint[] _units;
    private readonly byte[] _replacements;

    private PrecompiledCharsmap(uint[] units, byte[] replacements)
    {
        _units = units;
        _replacements = replacements;
    }

    /// <summary>Number of double-array units in the trie.</summary>
    public int TrieUnits => _units.Length;

    /// <summary>Parses a precompiled charsmap blob.</summary>
    /// <exception cref="ManagedEmbedException">The blob is shorter than its header says or its trie size is not a
    /// multiple of 4.</exception>
    public static PrecompiledCharsmap Parse(ReadOnlySpan<byte> blob)
    {
        if (blob.Length < 4) throw new ManagedEmbedException($"precompiled_charsmap: {blob.Length} bytes, too short for its 4-byte header");
        uint trieBytes = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieBytes > (uint)(blob.Length - 4) || trieBytes % 4 != 0 || trieBytes == 0)
            throw new ManagedEmbedException($"precompiled_charsmap: trie size {trieBytes} does not fit the {blob.Length}-byte blob");
        var units = new uint[trieBytes / 4];
        for (int i = 0; i < units.Length; i++) units[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob[(4 + 4 * i)..]);
        return new PrecompiledCharsmap(units, blob[(4 + (int)trieBytes)..].ToArray());
    }

    // Darts-clone unit layout: bit 8 = has_leaf, bits 10.. (scaled by 2^8 when bit 9 is set) = offset,
    // label = low byte plus bit 31 (set on value units so that they never match a label).
    private static bool HasLeaf(uint u) => ((u >> 8) & 1) != 0;
    private static uint Value(uint u) => u & 0x7FFF_FFFF;
    private static uint Label(uint u) => u & 0x8000_00FF;
    private static uint Offset(uint u) => (u >> 10) << (int)((u & (1u << 9)) >> 6);

    /// <summary>
    /// The longest rule whose source is a prefix of <paramref name="input"/> (Darts commonPrefixSearch, the longest of
    /// its results, as SentencePiece's Normalizer::NormalizePrefix chooses).
    /// </summary>
    /// <param name="input">UTF-8 text.</param>
    /// <param name="length">Bytes of <paramref name="input"/> the rule consumes (0 = no rule matches).</param>
    /// <param name="replacement">The UTF-8 replacement (up to its NUL terminator); may be empty (deletion).</param>
    /// <returns>Whether a rule matched.</returns>
    public bool TryMatchPrefix(ReadOnlySpan<byte> input, out int length, out ReadOnlySpan<byte> replacement)
    {
        length = 0;
        replacement = default;
        uint[] a = _units;
        uint pos = 0;
        uint unit = a[0];
        pos ^= Offset(unit);
        int best = -1;
        for (int i = 0; i < input.Length; i++)
        {
            byte c = input[i];
            pos ^= c;
            if (pos >= (uint)a.Length) break;   // a well-formed trie never leaves the array; a corrupt one just stops matching
            unit = a[pos];
            if (Label(unit) != c) break;
            pos ^= Offset(unit);
            if (HasLeaf(unit))
            {
                if (pos >= (uint)a.Length) break;
                uint v = Value(a[pos]);
                if (v < (uint)_replacements.Length)
                {
                    best = (int)v;
                    length = i + 1;
                }
            }
        }
        if (length == 0) return false;
        ReadOnlySpan<byte> rest = _replacements.AsSpan(best);
        int nul = rest.IndexOf((byte)0);
        replacement = nul < 0 ? rest : rest[..nul];
        return true;
    }
}
