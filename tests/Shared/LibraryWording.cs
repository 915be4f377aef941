namespace ManagedEmbed.Testing;

/// <summary>Libraries speak library: their messages name no CLI flags or commands (the CLI appends those).</summary>
internal static class LibraryWording
{
    /// <summary>Fails when <paramref name="message"/> mentions a <c>--flag</c> or a <c>membed …</c> command.</summary>
    public static void AssertNoCliWords(string message)
    {
        Xunit.Assert.DoesNotContain("--", message);
        Xunit.Assert.DoesNotContain("membed ", message);
        Xunit.Assert.DoesNotContain("'membed", message);
    }
}
