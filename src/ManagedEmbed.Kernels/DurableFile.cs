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

    /// <summary>
    /// True when <paramref name="path"/>'s file name has the form of <see cref="TempPath"/>'s names,
    /// <c>.NAME.PID.GUID.tmp</c> (GUID as 32 lowercase hex digits): what an interrupted write could leave behind.
    /// </summary>
    public static bool IsTempName(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        ReadOnlySpan<char> name = Path.GetFileName(path.AsSpan());
        if (name.Length < 2 || name[0] != '.' || !name.EndsWith(".tmp", StringComparison.Ordinal)) return false;
        ReadOnlySpan<char> core = name[1..^4];                     // NAME.PID.GUID
        int g = core.LastIndexOf('.');
        if (g < 0 || core.Length - g - 1 != 32 || core[(g + 1)..].ContainsAnyExcept("0123456789abcdef")) return false;
        core = core[..g];                                           // NAME.PID
        int p = core.LastIndexOf('.');
        return p > 0 && p < core.Length - 1 && !core[(p + 1)..].ContainsAnyExceptInRange('0', '9');
    }

    /// <summary>
    /// Creates <paramref name="path"/> (it must not exist yet), fills it with <paramref name="write"/> and fsyncs it,
    /// without a rename: for a file inside a staging directory that <see cref="PublishDirectory"/> later makes visible
    /// as a whole. If <paramref name="write"/> throws, the file is removed.
    /// </summary>
    public static void WriteNew<TState>(string path, TState state, StreamWriter<TState> write) where TState : allows ref struct
    {
        ArgumentNullException.ThrowIfNull(write);
        var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
        try
        {
            write(fs, state);
            fs.Flush(flushToDisk: true);
            fs.Dispose();
        }
        catch
        {
            fs.Dispose();
            TryDelete(path);
            throw;
        }
    }

    /// <summary>Like <see cref="WriteNew{TState}"/> with a plain callback.</summary>
    public static void WriteNew(string path, Action<Stream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        WriteNew(path, write, static (s, w) => w(s));
    }

    /// <summary>
    /// Opens a file in a staging directory for streaming into it: created (or truncated), or appended to when
    /// <paramref name="append"/> (a resumed download). The caller makes what it wrote durable with <see cref="Sync"/>.
    /// </summary>
    public static FileStream OpenStaged(string path, bool append) =>
        new(path, append ? FileMode.Append : FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);

    /// <summary>Flushes <paramref name="file"/> through to the device (fsync), so its bytes survive a power loss.</summary>
    public static void Sync(FileStream file)
    {
        ArgumentNullException.ThrowIfNull(file);
        file.Flush(flushToDisk: true);
    }

    /// <summary>
    /// Makes the complete staging directory <paramref name="staging"/> appear as <paramref name="target"/> in one
    /// rename: fsyncs every directory inside it and itself (its files must be durable already, e.g. written with
    /// <see cref="WriteNew{TState}"/>), removes <paramref name="target"/> if it is an empty directory, renames, and
    /// fsyncs the parent. A reader sees no directory or the complete one.
    /// </summary>
    public static void PublishDirectory(string staging, string target)
    {
        foreach (string dir in Directory.EnumerateDirectories(staging, "*", SearchOption.AllDirectories)) FsyncDirectory(dir);
        FsyncDirectory(staging);
        string full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target));
        if (Directory.Exists(full)) Directory.Delete(full); // throws unless empty: a complete directory is never replaced
        Directory.Move(staging, full);
        FsyncDirectory(Path.GetDirectoryName(full) ?? ".");
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
