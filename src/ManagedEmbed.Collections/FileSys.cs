using System.Runtime.InteropServices;

namespace ManagedEmbed.Collections;

/// <summary>Durability helpers: fsync of files and directories, atomic publish by write-then-rename.</summary>
internal static partial class FileSys
{
    private const int O_RDONLY = 0;
    private const int O_DIRECTORY = 0x10000; // Linux value; only passed on Linux.

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int SysOpen(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int SysFsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int SysClose(int fd);

    /// <summary>fsyncs a directory so that renames/creations/unlinks inside it are durable (POSIX needs this).</summary>
    public static void FsyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return; // NTFS metadata is journaled; a directory cannot be opened as a file.
        int flags = O_RDONLY | (OperatingSystem.IsLinux() ? O_DIRECTORY : 0);
        int fd = SysOpen(dir, flags);
        if (fd < 0) throw new IOException($"cannot open directory {dir} to fsync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (SysFsync(fd) != 0) throw new IOException($"fsync of directory {dir} failed (errno {Marshal.GetLastPInvokeError()})");
        }
        finally { SysClose(fd); }
    }

    /// <summary>fsyncs an existing file's data and metadata.</summary>
    public static void FsyncFile(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite | FileShare.Delete);
        fs.Flush(true);
    }

    /// <summary>Writes <paramref name="path"/> atomically: write to path.tmp, fsync, rename over, fsync the directory.</summary>
    public static void AtomicWrite(string path, ReadOnlySpan<byte> bytes)
    {
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(bytes);
            fs.Flush(true);
        }
        File.Move(tmp, path, overwrite: true);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>Renames a fully written and fsynced temporary file into place and fsyncs the directory.</summary>
    public static void Publish(string tmp, string path)
    {
        File.Move(tmp, path, overwrite: true);
        FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>CRC-32C of a whole file, streamed.</summary>
    public static uint FileCrc(string path, out long length)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        var buf = new byte[1 << 20];
        uint crc = 0;
        long total = 0;
        int n;
        while ((n = fs.Read(buf, 0, buf.Length)) > 0) { crc = Crc32C.Append(crc, buf.AsSpan(0, n)); total += n; }
        length = total;
        return crc;
    }
}
