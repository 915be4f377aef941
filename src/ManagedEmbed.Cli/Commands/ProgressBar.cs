using System.Diagnostics;
using System.Globalization;

namespace ManagedEmbed.Cli;

/// <summary>
/// A one-line progress bar on stderr, drawn only when stderr is a terminal (so pipes, files and CI logs stay
/// clean), redrawn at most ~10 times per second.
/// </summary>
internal sealed class ProgressBar : IDisposable
{
    private readonly string _label;
    private readonly bool _bytes;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _lastDraw = -1_000; // far enough back that the first report draws (long.MinValue overflowed the difference)
    private bool _drawn;

    /// <summary>True when stderr is an interactive terminal.</summary>
    public static bool Enabled => !Console.IsErrorRedirected;

    /// <summary>A bar for <paramref name="label"/>, or null when stderr is not a terminal.</summary>
    public static ProgressBar? Create(string label, bool bytes = false) => Enabled ? new ProgressBar(label, bytes) : null;

    private ProgressBar(string label, bool bytes) { _label = label; _bytes = bytes; }

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> (null = unknown total).</summary>
    public void Report(long done, long? total, string? detail = null)
    {
        long now = _clock.ElapsedMilliseconds;
        bool finished = total is long t0 && done >= t0;
        if (!finished && now - _lastDraw < 100) return;
        _lastDraw = now;
        int line = LineWidth;
        string text;
        if (total is long t && t > 0)
        {
            double f = Math.Clamp((double)done / t, 0, 1);
            string tail = $" {f * 100,5:0.0}%  {Amount(done)}/{Amount(t)}";
            int width = Math.Clamp(line - _label.Length - tail.Length - 3, 5, 30); // shrink the bar, not the numbers
            int fill = (int)(f * width);
            text = $"{_label} [{new string('#', fill)}{new string('.', width - fill)}]{tail}";
        }
        else text = $"{_label} {Amount(done)}";
        if (detail is not null) text += "  " + detail;
        if (text.Length > line) text = text[..line];
        Console.Error.Write("\r" + text.PadRight(line));
        _drawn = true;
    }

    // One column short of the terminal, so the carriage return never wraps to a new line.
    private static int LineWidth
    {
        get
        {
            try { return Math.Clamp(Console.WindowWidth - 1, 20, 160); }
            catch (IOException) { return 79; }
            catch (PlatformNotSupportedException) { return 79; }
        }
    }

    private string Amount(long v) => _bytes
        ? (v >= 1 << 20 ? (v / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB" : (v / 1024.0).ToString("0", CultureInfo.InvariantCulture) + " KiB")
        : v.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>Ends the line.</summary>
    public void Dispose()
    {
        if (_drawn) Console.Error.WriteLine();
        _drawn = false;
    }
}
