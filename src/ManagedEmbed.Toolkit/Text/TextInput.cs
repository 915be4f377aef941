using System.Globalization;
using System.Text;

namespace ManagedEmbed.Text;

/// <summary>One line of an input file, with its 1-based line number for error messages.</summary>
/// <param name="Number">1-based line number in the file.</param>
/// <param name="Text">The line without its line terminator.</param>
public readonly record struct InputLine(int Number, string Text);

/// <summary>A labeled pair from pairs.tsv: <c>text1 TAB text2 TAB label(0|1)</c>.</summary>
/// <param name="Line">Line number in the file.</param>
/// <param name="Text1">First text.</param>
/// <param name="Text2">Second text.</param>
/// <param name="Label">1 = similar, 0 = different.</param>
public sealed record LabeledPair(int Line, string Text1, string Text2, int Label);

/// <summary>A scored pair from an STS file: <c>text1 TAB text2 TAB gold score</c>.</summary>
/// <param name="Line">Line number in the file.</param>
/// <param name="Text1">First text.</param>
/// <param name="Text2">Second text.</param>
/// <param name="Gold">The human similarity score (any finite scale, e.g. 0–5 for STS-B).</param>
public sealed record ScoredPair(int Line, string Text1, string Text2, double Gold);

/// <summary>
/// Strict readers for the product's text inputs: UTF-8 (a BOM is allowed; invalid bytes are an error naming the
/// file and line), LF or CRLF line ends.
/// </summary>
public static class TextInput
{
    private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>All lines of <paramref name="path"/> (a final line terminator does not start another line).</summary>
    public static List<InputLine> ReadLines(string path)
    {
        using var stream = OpenInput(path);
        return [.. StreamLines(stream, path)];
    }

    /// <summary>
    /// Opens <paramref name="path"/> for <see cref="StreamLines"/>; a missing or unreadable file is a
    /// <see cref="ManagedEmbedException"/> naming it.
    /// </summary>
    public static FileStream OpenInput(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path)) throw new ManagedEmbedException($"input file '{path}' does not exist");
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManagedEmbedException($"cannot read '{path}': {e.Message.ReplaceLineEndings(" ").Trim()}", e);
        }
    }

    /// <summary>
    /// The one line reader of the product: streams the lines of UTF-8 <paramref name="stream"/> ('\n', with an
    /// optional '\r' before it removed; a final newline does not start another line, an empty line is an empty
    /// text; a leading byte-order mark is skipped). Only the current line is held in memory, so inputs of any size
    /// stream in constant memory. Invalid UTF-8 is a <see cref="ManagedEmbedException"/> naming
    /// <paramref name="name"/> and the 1-based line, thrown when that line is reached.
    /// </summary>
    public static IEnumerable<InputLine> StreamLines(Stream stream, string name)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(name);
        byte[] buf = new byte[64 * 1024];
        int start = 0, end = 0, scanned = 0, number = 0;
        bool eof = false;
        while (end < 3 && !eof)
        {
            int n = stream.Read(buf, end, buf.Length - end);
            if (n == 0) eof = true;
            else end += n;
        }
        if (buf.AsSpan(0, end).StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF])) start = scanned = 3;
        while (true)
        {
            int nl = buf.AsSpan(scanned, end - scanned).IndexOf((byte)'\n');
            if (nl >= 0) nl += scanned;
            else
            {
                scanned = end;
                if (!eof)
                {
                    // Keep only the unfinished line; grow only for a line longer than the buffer.
                    if (start > 0)
                    {
                        Buffer.BlockCopy(buf, start, buf, 0, end - start);
                        end -= start; scanned -= start; start = 0;
                    }
                    if (end == buf.Length)
                    {
                        if (buf.Length >= Array.MaxLength / 2) throw new ManagedEmbedException($"{name} line {number + 1}: line too long");
                        Array.Resize(ref buf, buf.Length * 2);
                    }
                    int n = stream.Read(buf, end, buf.Length - end);
                    if (n == 0) eof = true;
                    else end += n;
                    continue;
                }
                if (start == end) yield break;
                nl = end; // the last line, without a terminator
            }
            number = checked(number + 1);
            var line = buf.AsSpan(start, nl - start);
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            string text = Decode(line, name, number);
            start = scanned = Math.Min(nl + 1, end);
            yield return new InputLine(number, text);
        }
    }

    private static string Decode(ReadOnlySpan<byte> line, string name, int number)
    {
        try { return Strict.GetString(line); }
        catch (DecoderFallbackException e)
        {
            throw new ManagedEmbedException($"{name} line {number}: not valid UTF-8 at byte offset {e.Index} of the line");
        }
    }

    /// <summary>
    /// The non-blank lines of a one-text-per-line file (a corpus or a sentence list). Blank lines are skipped;
    /// an input without any text is an error.
    /// </summary>
    public static List<InputLine> ReadTexts(string path)
    {
        var lines = ReadLines(path).Where(l => !string.IsNullOrWhiteSpace(l.Text)).ToList();
        if (lines.Count == 0) throw new ManagedEmbedException($"{path} contains no text (one text per line expected)");
        return lines;
    }

    /// <summary>Reads pairs.tsv (<c>text1 TAB text2 TAB 0|1</c>); blank lines and lines starting with '#' are skipped.</summary>
    public static List<LabeledPair> ReadLabeledPairs(string path)
    {
        var result = new List<LabeledPair>();
        foreach (var (line, f) in Rows(path, "label"))
        {
            int label = f[2].Trim() switch
            {
                "0" => 0,
                "1" => 1,
                var other => throw new ManagedEmbedException($"{path} line {line}: label must be 0 or 1, got '{Clip(other)}' (comment a header line out with '#')"),
            };
            result.Add(new LabeledPair(line, f[0], f[1], label));
        }
        if (result.Count == 0) throw new ManagedEmbedException($"{path} contains no pairs");
        return result;
    }

    /// <summary>Reads an STS file (<c>text1 TAB text2 TAB score</c>); blank lines and lines starting with '#' are skipped.</summary>
    public static List<ScoredPair> ReadScoredPairs(string path)
    {
        var result = new List<ScoredPair>();
        foreach (var (line, f) in Rows(path, "gold score"))
        {
            string s = f[2].Trim();
            if (!double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double gold) || !double.IsFinite(gold))
                throw new ManagedEmbedException($"{path} line {line}: gold score must be a finite number, got '{Clip(s)}' (comment a header line out with '#')");
            result.Add(new ScoredPair(line, f[0], f[1], gold));
        }
        if (result.Count < 2) throw new ManagedEmbedException($"{path} needs at least 2 scored pairs for a correlation, got {result.Count}");
        return result;
    }

    private static IEnumerable<(int Line, string[] Fields)> Rows(string path, string third)
    {
        foreach (var l in ReadLines(path))
        {
            if (l.Text.Length == 0 || l.Text.StartsWith('#')) continue;
            string[] f = l.Text.Split('\t');
            if (f.Length != 3)
                throw new ManagedEmbedException($"{path} line {l.Number}: expected 3 tab-separated fields (text1, text2, {third}), got {f.Length}");
            yield return (l.Number, f);
        }
    }

    private static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "…";
}
