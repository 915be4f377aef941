using ManagedEmbed.Encoder;

namespace ManagedEmbed.Cli;

/// <summary>
/// Adapts the encoder's <see cref="EncodeProgress"/> to the CLI: draws a <see cref="ProgressRenderer"/> (on a
/// terminal) and tallies the texts cut to max_seq_length, over one or more encode calls made one after another
/// (embed's windows, a collection's batches). The tally is kept whether or not anything is drawn.
/// </summary>
internal sealed class EncodeReporter : IProgress<EncodeProgress>, IDisposable
{
    private readonly ProgressRenderer? _bar;
    private readonly long? _total;
    private readonly Lock _gate = new();
    private long _finishedTexts;   // texts of the calls that have completed
    private int _finishedTruncated, _callTruncated;

    private readonly bool _singleCall;

    /// <summary>
    /// A reporter labelled <paramref name="label"/>; <paramref name="total"/> is the texts of all calls when known.
    /// Without it, a <paramref name="singleCall"/> reporter shows the call's own total, else a running count.
    /// </summary>
    public EncodeReporter(string label, long? total = null, bool singleCall = true)
    {
        _bar = ProgressRenderer.Create(label);
        _total = total;
        _singleCall = singleCall;
    }

    /// <summary>Texts cut to max_seq_length so far.</summary>
    public int Truncated { get { lock (_gate) return _finishedTruncated + _callTruncated; } }

    /// <summary>Texts encoded by the completed calls.</summary>
    public long Texts { get { lock (_gate) return _finishedTexts; } }

    /// <inheritdoc/>
    public void Report(EncodeProgress value)
    {
        lock (_gate)
        {
            _callTruncated = value.Truncated;
            long done = _finishedTexts + value.Completed;
            long? total = _total ?? (_singleCall ? value.Total : null);
            if (value.Completed >= value.Total)
            {
                _finishedTexts += value.Total;
                _finishedTruncated += value.Truncated;
                _callTruncated = 0;
            }
            _bar?.Report(done, total);
        }
    }

    /// <summary>
    /// Ends the bar and, when texts were cut, prints "membed: note: N of M texts were longer than L tokens and were
    /// truncated (HINT)" on stderr.
    /// </summary>
    public void Finish(int maxSeqLength, string hint)
    {
        Dispose();
        int n = Truncated;
        if (n > 0)
            Console.Error.WriteLine($"membed: note: {n} of {Math.Max(Texts, n)} texts were longer than {maxSeqLength} tokens and were truncated ({hint})");
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        lock (_gate) _bar?.Dispose();
    }
}

/// <summary>Forwards progress to a target set later (the store is opened before the command knows its totals).</summary>
internal sealed class ProgressRelay : IProgress<EncodeProgress>
{
    /// <summary>Where reports go; none until set.</summary>
    public IProgress<EncodeProgress>? Target { get; set; }

    /// <inheritdoc/>
    public void Report(EncodeProgress value) => Target?.Report(value);
}
