using System.Text.Json;
using ManagedEmbed.Encoder.Tokenization;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests.Tokenization;

/// <summary>
/// Checks, code point by code point, that the Unicode data the C# tokenizer uses (.NET's categories, the generated
/// NFD / final-sigma tables, .NET's lowercase) agrees with Python 3.11's Unicode 14 data, which the reference
/// fixtures were produced with (tests/fixtures/tokenizer/unicode14.json). Code points unassigned in Unicode 14 are
/// skipped (newer Unicode versions assign them). Any other difference must be listed in KnownDifferences, and the
/// fixture generator excludes those code points from its corpus (NET_DIFFERS in tools/gen_tokenizer_fixtures.py).
/// </summary>
public class UnicodeDataAgreementTests
{
    /// <summary>Assigned-in-Unicode-14 code points whose class or mapping differs in .NET 10 (with the reason).</summary>
    internal static readonly IReadOnlyDictionary<int, string> KnownDifferences = new Dictionary<int, string>
    {
        [0x1171E] = "class: AHOM CONSONANT SIGN MEDIAL RA is Mn in Unicode 14, Mc in .NET 10 (Unicode 16): stripped as an accent by Python 3.11, kept by .NET",
    };

    private static readonly Lazy<JsonDocument> Data = new(() =>
    {
        string path = Path.Combine(TestPaths.Fixtures, "tokenizer", "unicode14.json");
        return JsonDocument.Parse(File.ReadAllBytes(path));
    });

    private static char ClassOf(int cp) =>
        UnicodeTables.IsDropped(cp) ? 'D'
        : UnicodeTables.IsWhitespace(cp) ? 'W'
        : UnicodeTables.IsPunctuation(cp) ? 'P'
        : UnicodeTables.IsNonSpacingMark(cp) ? 'M'
        : 'O';

    private static char[] PythonClasses()
    {
        var cls = new char[0x110000];
        var runs = Data.Value.RootElement.GetProperty("classes").EnumerateArray().ToArray();
        for (int r = 0; r < runs.Length; r++)
        {
            int start = runs[r][0].GetInt32();
            int end = r + 1 < runs.Length ? runs[r + 1][0].GetInt32() : 0x110000;
            char c = runs[r][1].GetString()![0];
            for (int cp = start; cp < end; cp++) cls[cp] = c;
        }
        return cls;
    }

    private static void AssertOnlyKnown(List<(int Cp, string Text)> diffs, string what)
    {
        var unknown = diffs.Where(d => !KnownDifferences.ContainsKey(d.Cp)).ToList();
        Assert.True(unknown.Count == 0,
            $"{what}: {unknown.Count} code points differ from Python's Unicode 14 data and are not in KnownDifferences:\n"
            + string.Join("\n", unknown.Take(60).Select(d => d.Text)));
        // The list must stay exact: every known difference of this kind must still be one.
        var stale = KnownDifferences.Where(k => k.Value.StartsWith(what + ":", StringComparison.Ordinal)
                                                 && !diffs.Exists(d => d.Cp == k.Key)).ToList();
        Assert.True(stale.Count == 0, $"{what}: KnownDifferences entries no longer differ: {string.Join(", ", stale.Select(k => $"U+{k.Key:X4}"))}");
    }

    [Fact]
    public void CharacterClassesMatchPythonUnicode14()
    {
        char[] py = PythonClasses();
        var diffs = new List<(int, string)>();
        for (int cp = 0; cp < 0x110000; cp++)
        {
            if (py[cp] == 'U') continue;
            char cs = ClassOf(cp);
            if (cs == py[cp]) continue;
            diffs.Add((cp, $"U+{cp:X4}: python {py[cp]}, .NET {cs}"));
        }
        AssertOnlyKnown(diffs, "class");
    }

    [Fact]
    public void LowercaseMatchesPythonStrLower()
    {
        char[] py = PythonClasses();
        var expected = new Dictionary<int, int[]>();
        foreach (JsonElement e in Data.Value.RootElement.GetProperty("lower").EnumerateArray())
            expected[e[0].GetInt32()] = e[1].EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.True(expected.Count > 1000, "unicode14.json lowercase table looks truncated");
        var diffs = new List<(int, string)>();
        Span<int> dst = stackalloc int[4];
        for (int cp = 0; cp < 0x110000; cp++)
        {
            if (py[cp] == 'U') continue;
            int n = UnicodeTables.Lower([cp], dst);
            int[] want = expected.TryGetValue(cp, out int[]? w) ? w : [cp];
            if (dst[..n].SequenceEqual(want)) continue;
            diffs.Add((cp, $"U+{cp:X4}: python [{string.Join(",", want.Select(x => x.ToString("X")))}], .NET [{string.Join(",", dst[..n].ToArray().Select(x => x.ToString("X")))}]"));
        }
        AssertOnlyKnown(diffs, "lowercase");
    }

    [Fact]
    public void NfdMatchesPythonUnicodedata()
    {
        char[] py = PythonClasses();
        var expected = new Dictionary<int, int[]>();
        foreach (JsonElement e in Data.Value.RootElement.GetProperty("nfd").EnumerateArray())
            expected[e[0].GetInt32()] = e[1].EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.True(expected.Count > 2000, "unicode14.json NFD table looks truncated");
        var diffs = new List<(int, string)>();
        Span<int> dst = stackalloc int[8];
        for (int cp = 0; cp < 0x110000; cp++)
        {
            if (py[cp] == 'U') continue;
            bool hangul = cp is >= 0xAC00 and <= 0xD7A3;
            if (hangul && !expected.ContainsKey(cp)) continue; // the fixture samples Hangul syllables
            int n = UnicodeTables.Nfd([cp], dst);
            int[] want = expected.TryGetValue(cp, out int[]? w) ? w : [cp];
            if (dst[..n].SequenceEqual(want)) continue;
            diffs.Add((cp, $"U+{cp:X4}: python [{string.Join(",", want.Select(x => x.ToString("X")))}], C# [{string.Join(",", dst[..n].ToArray().Select(x => x.ToString("X")))}]"));
        }
        AssertOnlyKnown(diffs, "NFD");
    }

    [Fact]
    public void NfdReordersCombiningMarksCanonically()
    {
        // U+0301 (ccc 230) before U+0323 (ccc 220) must be reordered; U+1D16D (226) after U+1D165 (216) is already in order.
        Span<int> dst = stackalloc int[16];
        int n = UnicodeTables.Nfd([0x61, 0x301, 0x323, 0x62], dst);
        Assert.Equal([0x61, 0x323, 0x301, 0x62], dst[..n].ToArray());
        n = UnicodeTables.Nfd([0x1E0B, 0x323], dst); // ḋ + dot below → d, dot below, dot above
        Assert.Equal([0x64, 0x323, 0x307], dst[..n].ToArray());
        n = UnicodeTables.Nfd([0xD4DB], dst); // Hangul LVT syllable
        Assert.Equal([0x1111, 0x1171, 0x11B6], dst[..n].ToArray());
    }

    [Fact]
    public void InvariantGlobalizationHasNoNormalization()
    {
        // Why the generated NFD table exists: with InvariantGlobalization, string.Normalize is a no-op. If a future
        // runtime normalizes here, this test tells us the table could be replaced.
        Assert.Equal("\u00e9", "\u00e9".Normalize(System.Text.NormalizationForm.FormD));
    }
}
