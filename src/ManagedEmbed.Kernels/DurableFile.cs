using System.Runtime.InteropServices;

namespace ManagedEmbed.Kernels;

/// <summary>Writes <paramref name="state"/> to <paramref name="stream"/>, for <see cref="DurableFile.Write{TState}"/>.</summary>
public delegate void StreamWriter<TState>(Stream stream, TState state) where TState : allows ref struct;

/// <summary>
/// Crash-safe file publication, the one copy every project uses: write a temporary sibling, fsync it, rename it over
/// the target, fsync the directory. A reader sees the old file or the new one, never a partial one, and after return
/// the new name survives a power loss.
/// </summary>
public static partial class DurableFile
{
    /// <summary>Writes <paramref name="bytes"/> to <paramref name="path"/> atomically and durably.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes) => Write(path, bytes, static (s, b) => s.Write(b));

    /// <summary>
    /// Writes <paramref name="path"/> atomically and durably with <paramref name="write"/> filling a temporary file;
    /// if <paramref name="write"/> throws, the temporary file is removed and the target is left as it was.
    /// </summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        Write(path, write, static (s, w) => w(s));
    }

    /// <summary>
    /// Like <see cref="Write(string, Action{Stream})"/> with a state argument, which may be a span (so callers need not
    /// copy their data into an array for a closure).
    /// </summary>
    public static void Write<TState>(string path, TState state, StreamWriter<TState> write) where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(write);
        string tmp = TempPath(path, out string full, out _);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(fs, state);
                fs.Flush(flushToDisk: true);
            }
            Publish(tmp, full);
        }
        catch
        {
            TryDelete(tmp); // gone already if the rename happened
            throw;
        }
    }

    /// <summary>
    /// A unique temporary path beside <paramref name="path"/> (hidden, same directory so the rename is atomic), for
    /// callers that stream into it themselves and publish with <see cref="Publish"/>.
    /// </summary>
    public static string TempPath(string path, out string fullPath, out string directory)
    {
        fullPath = Path.GetFullPath(path);
        directory = Path.GetDirectoryName(fullPath) ?? ".";
        return Path.Combine(directory, $".{Path.GetFileName(fullPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
    }

    /// <summary>Renames an already fsynced temporary file over <paramref name="path"/> and fsyncs the directory.</summary>
    public static void Publish(string tmp, string path)
    {
        string full = Path.GetFullPath(path);
        File.Move(tmp, full, overwrite: true);
        FsyncDirectory(Path.GetDirectoryName(full) ?? ".");
    }

    /// <summary>
    /// fsyncs a directory so that creations, renames and unlinks inside it are durable. .NET has no API for this (a
    /// FileStream refuses directories), so on Unix it calls open(O_RDONLY) + fsync. O_RDONLY opens directories as
    /// well; O_DIRECTORY is not passed because its value differs per architecture (0x10000 on x86-64, 0x4000 on
    /// arm64). On Windows it is a no-op: NTFS journals metadata and a directory cannot be opened as a file.
    /// </summary>
    public static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = Open(dir, ORdOnly | (OperatingSystem.IsLinux() ? OCloExecLinux : 0));
        if (fd < 0) throw new IOException($"cannot open directory {dir} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (Fsync(fd) != 0) throw new IOException($"fsync of directory {dir} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally { Close(fd); }
    }

    /// <summary>Deletes a file, ignoring a missing file and I/O or permission errors (cleanup paths only).</summary>
    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private const int ORdOnly = 0, OCloExecLinux = 0x80000; // O_CLOEXEC is the same on Linux x86-64 and arm64

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
