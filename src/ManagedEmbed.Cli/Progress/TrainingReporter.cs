namespace ManagedEmbed.Cli;

/// <summary>
/// k-means training progress (IVF lists): a note when training starts and a bar over its iterations, both on a
/// terminal only. The bar is made on the first iteration, so a run that trains nothing shows nothing.
/// </summary>
internal sealed class TrainingReporter(string label) : IDisposable
{
    private ProgressRenderer? _bar;

    /// <summary>Prints a library's note before a slow step ("membed: MESSAGE"), on a terminal only.</summary>
    public void Status(string message)
    {
        if (ProgressRenderer.Enabled) Console.Error.WriteLine("membed: " + message);
    }

    /// <summary>Iteration <paramref name="done"/> of <paramref name="total"/> finished.</summary>
    public void Iteration(int done, int total)
    {
        _bar ??= ProgressRenderer.Create(label);
        _bar?.Report(done, total);
    }

    /// <inheritdoc/>
    public void Dispose() => _bar?.Dispose();
}
