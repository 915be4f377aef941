namespace ManagedEmbed;

/// <summary>
/// An error caused by input the caller gave (a file, a shape, an option, a text), as opposed to a bug.
/// The message is one line that names what is wrong; front ends print it as is.
/// </summary>
public class ManagedEmbedException : Exception
{
    /// <summary>Creates the exception with a one-line message.</summary>
    public ManagedEmbedException(string message) : base(message) { }
    /// <summary>Creates the exception with a one-line message and its cause.</summary>
    public ManagedEmbedException(string message, Exception inner) : base(message, inner) { }
}
