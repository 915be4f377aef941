using System.Runtime.ExceptionServices;

namespace ManagedEmbed.Encoder;

/// <summary>
/// One load step run on its own thread while the caller does another (model loading: tokenizer beside weights).
/// A dedicated thread rather than a task: a cold process would otherwise start the thread pool for one work item.
/// </summary>
/// <remarks>A failure is kept and rethrown unchanged (same exception object and type, never wrapped in an
/// AggregateException) by <see cref="Result"/>, so callers report it exactly as if the step had run inline.</remarks>
internal sealed class ParallelLoad<T> where T : class
{
    private readonly Thread _thread;
    private T? _value;
    private ExceptionDispatchInfo? _error;

    /// <summary>Starts <paramref name="load"/> on a new background thread.</summary>
    public ParallelLoad(Func<T> load)
    {
        _thread = new Thread(() =>
        {
            try { _value = load(); }
            catch (Exception e) { _error = ExceptionDispatchInfo.Capture(e); }
        }) { IsBackground = true, Name = "membed load" };
        _thread.Start();
    }

    /// <summary>Waits for the step to end (successfully or not); never throws the step's exception.</summary>
    public void Wait() => _thread.Join();

    /// <summary>Waits for the step and returns its value, or rethrows its exception as it was thrown.</summary>
    public T Result()
    {
        _thread.Join();
        _error?.Throw();
        return _value!;
    }
}
