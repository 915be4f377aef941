namespace ManagedEmbed.Testing;

/// <summary>Finds the temporaries <see cref="Kernels.DurableFile"/> writes (<c>.NAME.PID.GUID.tmp</c>) that a write left behind.</summary>
internal static class TempFiles
{
    /// <summary>The DurableFile temporaries in <paramref name="dir"/> (and below it when <paramref name="recursive"/>).</summary>
    public static string[] LeftIn(string dir, bool recursive = false) =>
        Directory.EnumerateFiles(dir, "*", recursive ? SearchOption.AllDirectories : SearchOption.TopDirectoryOnly)
            .Where(Kernels.DurableFile.IsTempName).ToArray();
}
