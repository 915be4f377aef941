using System.Diagnostics;
using System.Globalization;
using System.Text;

[assembly: System.Runtime.CompilerServices.InternalsVisibleTo("ManagedEmbed.Cli.Tests")]

namespace ManagedEmbed.Cli;

/// <summary>
/// The CLI's one progress display: a single line on stderr, redrawn in place (carriage return) at most 10 times a
/// second, showing count/total, percentage, rate and ETA, and ending with a final line (total, elapsed time).
/// It draws only when stderr is a terminal, so pipes, files and CI logs stay clean. Libraries report progress through
/// <see cref="IProgress{T}"/> or callbacks; the commands adapt those to this. Reports may come from worker threads.
/// </summary>
internal sealed class ProgressRenderer : IDisposable
{
    private const long MinRedrawMs = 100; // at most 10 frames a second

    private readonly string _label;
    private readonly bool _bytes;
    private readonly TextWriter _out;
    private readonly Func<long> _nowMs;
    private readonly Func<int> _width;
    private readonly Lock _gate = new();
    private long? _lastDrawMs; // null: nothing drawn yet, so the first report draws
    private long _done;
    private long? _total;
    private bool _drawn, _closed;

    /// <summary>True when stderr is an interactive terminal (the only place the renderer draws).</summary>
    public static bool Enabled => !Console.IsErrorRedirected;

    /// <summary>A renderer for <paramref name="label"/> on stderr, or null when stderr is not a terminal.</summary>
    public static ProgressRenderer? Create(string label, bool bytes = false)
    {
        if (!Enabled) return null;
        var clock = Stopwatch.StartNew();
        return new ProgressRenderer(label, bytes, Console.Error, () => clock.ElapsedMilliseconds, TerminalWidth);
    }

    /// <summary>A renderer writing to <paramref name="output"/> with its own clock and width (tests use this).</summary>
    internal ProgressRenderer(string label, bool bytes, TextWriter output, Func<long> nowMs, Func<int> width)
    {
        _label = label;
        _bytes = bytes;
        _out = output;
        _nowMs = nowMs;
        _width = width;
    }

    /// <summary>Reports <paramref name="done"/> of <paramref name="total"/> (null: unknown total). Reaching the total draws the final line.</summary>
    public void Report(long done, long? total)
    {
        lock (_gate)
        {
            if (_closed) return;
            _done = done;
            _total = total;
            long now = _nowMs();
            if (total is long t && done >= t)
            {
                Close(now);
                return;
            }
            if (_lastDrawMs is long last && now - last < MinRedrawMs) return;
            _lastDrawMs = now;
            Draw(Frame(now, final: false));
        }
    }

    /// <summary>Ends the display: the final line when anything was drawn (or a total was reached), else nothing.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_closed) return;
            if (_drawn) Close(_nowMs());
            _closed = true;
        }
    }

    private void Close(long now)
    {
        Draw(Frame(now, final: true));
        _out.Write('\n');
        _out.Flush();
        _closed = true;
    }

    private void Draw(string text)
    {
        int line = _width();
        if (text.Length > line) text = text[..line];
        _out.Write("\r" + text.PadRight(line));
        _out.Flush();
        _drawn = true;
    }

    /// <summary>One frame: "LABEL [####....]  45.0%  4,500/10,000  1,234/s  ETA 0:04" (final: "done in 12.3s").</summary>
    private string Frame(long now, bool final)
    {
        double secs = Math.Max(now, 1) / 1000.0;
        double rate = _done / secs;
        var tail = new StringBuilder();
        if (_total is long t && t > 0)
        {
            double f = Math.Clamp((double)_done / t, 0, 1);
            tail.Append(' ').Append((f * 100).ToString("0.0", CultureInfo.InvariantCulture).PadLeft(5)).Append("%  ")
                .Append(Amount(_done)).Append('/').Append(Amount(t));
        }
        else tail.Append("  ").Append(Amount(_done));
        tail.Append("  ").Append(Amount((long)rate)).Append("/s");
        if (final) tail.Append("  done in ").Append(Duration(secs, tenths: true));
        else if (_total is long tt && rate > 0 && tt > _done) tail.Append("  ETA ").Append(Duration((tt - _done) / rate, tenths: false));

        // Shrink the bar, then the label, never the numbers.
        int line = _width();
        string label = _label.Length + tail.Length > line ? _label[..Math.Max(0, line - tail.Length)] : _label;
        if (_total is not long total || total <= 0) return label + tail;
        int barWidth = Math.Clamp(line - _label.Length - tail.Length - 3, 0, 30);
        if (barWidth < 5) return label + tail;
        int fill = (int)(Math.Clamp((double)_done / total, 0, 1) * barWidth);
        return $"{_label} [{new string('#', fill)}{new string('.', barWidth - fill)}]{tail}";
    }

    private string Amount(long v) => _bytes
        ? (v >= 1 << 20 ? (v / 1048576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MiB" : (v / 1024.0).ToString("0", CultureInfo.InvariantCulture) + " KiB")
        : v.ToString("N0", CultureInfo.InvariantCulture);

    private static string Duration(double secs, bool tenths)
    {
        if (secs < 60) return tenths ? secs.ToString("0.0", CultureInfo.InvariantCulture) + "s" : Math.Ceiling(secs).ToString("0", CultureInfo.InvariantCulture) + "s";
        long s = (long)Math.Ceiling(secs);
        return s >= 3600 ? $"{s / 3600}:{s / 60 % 60:00}:{s % 60:00}" : $"{s / 60}:{s % 60:00}";
    }

    // One column short of the terminal, so the carriage return never wraps; a pty without a size (0 columns) gets 100.
    private static int TerminalWidth()
    {
        try
        {
            int w = Console.WindowWidth;
            return w <= 0 ? 100 : Math.Clamp(w - 1, 20, 200);
        }
        catch (IOException) { return 100; }
        catch (PlatformNotSupportedException) { return 100; }
    }
}
