using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

// The tokenizer tests check these tables against Python's Unicode data code point by code point.
[assembly: InternalsVisibleTo("ManagedEmbed.Encoder.Tests")]

namespace ManagedEmbed.Encoder.Tokenization;

/// <summary>
/// Character classes and transforms of the Hugging Face BERT normalizer, over Unicode code points.
/// Categories come from .NET (CharUnicodeInfo). NFD, combining classes and the final-sigma context sets come from
/// the generated tables (UnicodeTables.g.cs), because .NET under InvariantGlobalization does not normalize
/// (string.Normalize(FormD) returns its input unchanged) and exposes no Cased/Case_Ignorable properties.
/// </summary>
internal static partial class UnicodeTables
{
    private const int HangulSBase = 0xAC00, HangulLBase = 0x1100, HangulVBase = 0x1161, HangulTBase = 0x11A7;
    private const int HangulLCount = 19, HangulVCount = 21, HangulTCount = 28;
    private const int HangulNCount = HangulVCount * HangulTCount, HangulSCount = HangulLCount * HangulNCount;

    /// <summary>Characters HF's clean_text removes: NUL, U+FFFD and every C* character except \t \n \r.</summary>
    public static bool IsDropped(int cp)
    {
        if (cp < 0x80)
            return cp < 0x20 ? cp is not ('\t' or '\n' or '\r') : cp == 0x7F;
        if (cp == 0xFFFD) return true;
        return CharUnicodeInfo.GetUnicodeCategory(cp) is UnicodeCategory.Control or UnicodeCategory.Format
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned;
    }

    /// <summary>
    /// Whitespace: space, \t, \n, \r and Zs (HF's _is_whitespace), plus Zl/Zp (U+2028, U+2029), which survive
    /// cleaning and then split words in both HF paths (Python str.split / Rust char::is_whitespace).
    /// </summary>
    public static bool IsWhitespace(int cp)
    {
        if (cp < 0x80) return cp is ' ' or '\t' or '\n' or '\r';
        return CharUnicodeInfo.GetUnicodeCategory(cp) is UnicodeCategory.SpaceSeparator
            or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
    }

    /// <summary>HF's _is_punctuation: all non-alphanumeric ASCII printable characters plus Unicode P*.</summary>
    public static bool IsPunctuation(int cp)
    {
        if (cp < 0x80)
            return cp is (>= 33 and <= 47) or (>= 58 and <= 64) or (>= 91 and <= 96) or (>= 123 and <= 126);
        return CharUnicodeInfo.GetUnicodeCategory(cp) is UnicodeCategory.ConnectorPunctuation
            or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation or UnicodeCategory.ClosePunctuation
            or UnicodeCategory.InitialQuotePunctuation or UnicodeCategory.FinalQuotePunctuation
            or UnicodeCategory.OtherPunctuation;
    }

    /// <summary>HF's _is_chinese_char ranges (transformers' BasicTokenizer, the slow reference).</summary>
    public static bool IsCjkIdeograph(int cp) =>
        cp is (>= 0x4E00 and <= 0x9FFF) or (>= 0x3400 and <= 0x4DBF) or (>= 0x20000 and <= 0x2A6DF)
            or (>= 0x2A700 and <= 0x2B73F) or (>= 0x2B740 and <= 0x2B81F) or (>= 0x2B820 and <= 0x2CEAF)
            or (>= 0xF900 and <= 0xFAFF) or (>= 0x2F800 and <= 0x2FA1F);

    public static bool IsNonSpacingMark(int cp) =>
        cp >= 0x300 && CharUnicodeInfo.GetUnicodeCategory(cp) == UnicodeCategory.NonSpacingMark;

    /// <summary>
    /// Full lowercase mapping of each code point (Python's per-character str.lower). .NET's invariant simple mapping
    /// equals it except U+0130 (Python: "i\u0307"; .NET invariant leaves it unchanged). With
    /// <paramref name="finalSigma"/>, capital sigma follows Python's whole-string str.lower context rule instead.
    /// Returns the number of code points written to <paramref name="dst"/> (at most 2 * src.Length).
    /// </summary>
    public static int Lower(ReadOnlySpan<int> src, Span<int> dst, bool finalSigma = false)
    {
        int n = 0;
        for (int i = 0; i < src.Length; i++)
        {
            int cp = src[i];
            if (cp < 0x80)
                dst[n++] = cp is >= 'A' and <= 'Z' ? cp + 32 : cp;
            else if (cp == 0x130)
            {
                dst[n++] = 'i';
                dst[n++] = 0x307;
            }
            else if (cp == 0x3A3)
                dst[n++] = finalSigma && IsFinalSigma(src, i) ? 0x3C2 : 0x3C3;
            else
                dst[n++] = Rune.ToLowerInvariant(new Rune(cp)).Value;
        }
        return n;
    }

    /// <summary>
    /// Python's Final_Sigma context: preceded by a cased letter (skipping case-ignorables) and not followed by one.
    /// </summary>
    private static bool IsFinalSigma(ReadOnlySpan<int> s, int i)
    {
        int j = i - 1;
        while (j >= 0 && InRanges(CaseIgnorableRanges, s[j])) j--;
        if (j < 0 || !InRanges(CasedRanges, s[j])) return false;
        j = i + 1;
        while (j < s.Length && InRanges(CaseIgnorableRanges, s[j])) j++;
        return j == s.Length || !InRanges(CasedRanges, s[j]);
    }

    /// <summary>
    /// Canonical decomposition (NFD) of <paramref name="src"/> into <paramref name="dst"/> (capacity 4 * src.Length:
    /// no code point decomposes into more than 4). Returns the number of code points written.
    /// </summary>
    public static int Nfd(ReadOnlySpan<int> src, Span<int> dst)
    {
        int n = 0;
        foreach (int cp in src)
        {
            if (cp < 0xC0)
            {
                dst[n++] = cp;
                continue;
            }
            int s = cp - HangulSBase;
            if ((uint)s < HangulSCount)
            {
                dst[n++] = HangulLBase + s / HangulNCount;
                dst[n++] = HangulVBase + s % HangulNCount / HangulTCount;
                if (s % HangulTCount != 0) dst[n++] = HangulTBase + s % HangulTCount;
                continue;
            }
            int k = Array.BinarySearch(DecompKeys, cp);
            if (k < 0)
            {
                dst[n++] = cp;
                continue;
            }
            for (int d = DecompOffsets[k]; d < DecompOffsets[k + 1]; d++) dst[n++] = DecompData[d];
        }
        // Canonical ordering: stable sort each run of non-starters by combining class (insertion sort; runs are tiny).
        for (int i = 1; i < n; i++)
        {
            int c = dst[i];
            int cc = CombiningClass(c);
            if (cc == 0) continue;
            int j = i - 1;
            while (j >= 0 && CombiningClass(dst[j]) is var pj && pj > cc)
            {
                dst[j + 1] = dst[j];
                j--;
            }
            dst[j + 1] = c;
        }
        return n;
    }

    public static int CombiningClass(int cp)
    {
        if (cp < 0x300) return 0;
        int[] runs = CombiningClassRuns;
        int lo = 0, hi = runs.Length / 3 - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (cp < runs[3 * mid]) hi = mid - 1;
            else if (cp > runs[3 * mid + 1]) lo = mid + 1;
            else return runs[3 * mid + 2];
        }
        return 0;
    }

    private static bool InRanges(int[] ranges, int cp)
    {
        int lo = 0, hi = ranges.Length / 2 - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (cp < ranges[2 * mid]) hi = mid - 1;
            else if (cp > ranges[2 * mid + 1]) lo = mid + 1;
            else return true;
        }
        return false;
    }
}
