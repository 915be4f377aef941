using ManagedEmbed.Kernels;

namespace ManagedEmbed.Collections;

/// <summary>
/// The one seam through which the collection store makes bytes and names durable: every write, fsync, truncation,
/// rename and directory fsync that durability depends on goes through it, so a test can record their order (and, with
/// a recorded log, reason about which state a crash could leave).
/// </summary>
internal interface IFileOps
{
    /// <summary>Writes <paramref name="data"/> at the stream's position.</summary>
    void Write(FileStream fs, ReadOnlySpan<byte> data);
    /// <summary>fsyncs the file's data and metadata.</summary>
    void Fsync(FileStream fs);
    /// <summary>Sets the file's length (truncates a log).</summary>
    void SetLength(FileStream fs, long length);
    /// <summary>Renames <paramref name="from"/> over <paramref name="to"/>.</summary>
    void Rename(string from, string to);
    /// <summary>fsyncs a directory so that renames, creations and unlinks inside it are durable.</summary>
    void FsyncDirectory(string dir);
}

/// <summary>The real file operations: the process-wide <see cref="DurableFile"/> primitives.</summary>
internal sealed class RealFileOps : IFileOps
{
    public static readonly RealFileOps Instance = new();

    public void Write(FileStream fs, ReadOnlySpan<byte> data) => fs.Write(data);
    public void Fsync(FileStream fs) => fs.Flush(true);
    public void SetLength(FileStream fs, long length) => fs.SetLength(length);
    public void Rename(string from, string to) => File.Move(from, to, overwrite: true);
    public void FsyncDirectory(string dir) => DurableFile.FsyncDirectory(dir);
}

/// <summary>Durability helpers built on an <see cref="IFileOps"/>: atomic publish by write-fsync-rename-fsync(dir).</summary>
internal static class FileSys
{
    /// <summary>Writes <paramref name="path"/> atomically: write to path.tmp, fsync, rename over, fsync the directory.</summary>
    public static void AtomicWrite(IFileOps ops, string path, ReadOnlySpan<byte> bytes)
    {
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            ops.Write(fs, bytes);
            ops.Fsync(fs);
        }
        ops.Rename(tmp, path);
        ops.FsyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
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
