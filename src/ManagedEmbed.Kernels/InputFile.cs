namespace ManagedEmbed;

/// <summary>Whole-file reads whose errors name the file (the runtime's own messages often do not).</summary>
public static class InputFile
{
    /// <summary>
    /// Reads all of <paramref name="path"/>; a missing, unreadable or over-large file is a
    /// <see cref="ManagedEmbedException"/> naming it.
    /// </summary>
    public static byte[] ReadAllBytes(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        try
        {
            // File.ReadAllBytes says only "The file is too long…" beyond 2 GiB, without the name.
            long length = new FileInfo(path).Length;
            if (length > Array.MaxLength)
                throw new ManagedEmbedException($"'{path}' is too large to read ({length} bytes; the limit is {Array.MaxLength} bytes)");
            return File.ReadAllBytes(path);
        }
        catch (FileNotFoundException) { throw new ManagedEmbedException($"'{path}' does not exist"); }
        catch (DirectoryNotFoundException) { throw new ManagedEmbedException($"'{path}' does not exist"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ManagedEmbedException($"cannot read '{path}': {e.Message.ReplaceLineEndings(" ").Trim()}", e);
        }
    }
}
