namespace ManagedEmbed.Hub;

/// <summary>Cleanup helpers of the model cache; durable writes themselves are <see cref="Kernels.DurableFile"/>.</summary>
internal static class Durable
{
    /// <summary>Deletes a directory tree, ignoring errors (cleanup paths only).</summary>
    public static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
