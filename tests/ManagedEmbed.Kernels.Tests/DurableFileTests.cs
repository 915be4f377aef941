using ManagedEmbed.Testing;

namespace ManagedEmbed.Kernels.Tests;

/// <summary>DurableFile's temporary names, the check the other suites use for "no temporary left", and staged files.</summary>
public sealed class DurableFileTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-durable");
    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void IsTempName_RecognisesExactlyTheNamesTempPathMakes()
    {
        string tmp = DurableFile.TempPath(Path.Combine(_dir, "model.safetensors"), out _, out _);
        Assert.True(DurableFile.IsTempName(tmp));
        Assert.True(DurableFile.IsTempName(".a.b.c.12.0123456789abcdef0123456789abcdef.tmp"));
        foreach (string name in new[] { "model.safetensors", "x.tmp", ".x.tmp", "x.tmp-123", "MANIFEST.tmp", ".x.12.tmp",
                     ".x.12.0123456789ABCDEF0123456789abcdef.tmp", ".x.1a.0123456789abcdef0123456789abcdef.tmp",
                     "..12.0123456789abcdef0123456789abcdef.tmp", ".x.12.0123456789abcdef0123456789abcdef.tmp.bak" })
            Assert.False(DurableFile.IsTempName(name), name);
    }

    [Fact]
    public void ATemporaryLeftBehindIsFound_WhereTheOldGlobSawNothing()
    {
        string target = Path.Combine(_dir, "out.jsonl");
        Assert.Throws<InvalidOperationException>(() => DurableFile.Write(target, _ => throw new InvalidOperationException("fail midway")));
        Assert.Empty(TempFiles.LeftIn(_dir)); // a failed write cleans up
        Assert.False(File.Exists(target));

        // A crash between write and rename leaves the temporary: the check the suites use must see it.
        string left = DurableFile.TempPath(target, out _, out _);
        File.WriteAllText(left, "partial");
        Assert.Equal([left], TempFiles.LeftIn(_dir));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp-*")); // the glob the suites used before matched nothing
    }

    [Fact]
    public void WriteNew_RefusesAnExistingFile_AndRemovesItsFileWhenTheWriterFails()
    {
        string p = Path.Combine(_dir, "a.bin");
        DurableFile.WriteNew(p, s => s.Write([1, 2, 3]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(p));
        Assert.Throws<IOException>(() => DurableFile.WriteNew(p, s => s.Write([9])));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(p));
        string q = Path.Combine(_dir, "b.bin");
        Assert.Throws<InvalidOperationException>(() => DurableFile.WriteNew(q, _ => throw new InvalidOperationException()));
        Assert.False(File.Exists(q));
    }

    [Fact]
    public void PublishDirectory_ReplacesOnlyAnEmptyTarget()
    {
        string staging = Path.Combine(_dir, ".m.partial"), target = Path.Combine(_dir, "m");
        Directory.CreateDirectory(Path.Combine(staging, "sub"));
        DurableFile.WriteNew(Path.Combine(staging, "sub", "f"), s => s.WriteByte(7));
        Directory.CreateDirectory(target);
        DurableFile.PublishDirectory(staging, target);
        Assert.Equal([7], File.ReadAllBytes(Path.Combine(target, "sub", "f")));
        Assert.False(Directory.Exists(staging));

        Directory.CreateDirectory(staging);
        Assert.Throws<IOException>(() => DurableFile.PublishDirectory(staging, target)); // target is not empty
        Assert.Equal([7], File.ReadAllBytes(Path.Combine(target, "sub", "f")));
    }
}
