using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>
/// Issue 10, finding A.1 through the CLI: a byte flipped inside the last WAL record of `add --batch-size 10` of 200
/// records must never make 10 acknowledged records vanish silently, and a writable open must not cut them off.
/// </summary>
public sealed class WalTrustCliTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-waltrust-cli");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string Store => Path.Combine(_dir, "db");
    private string CollDir => Path.Combine(Store, "c");
    private string Wal => Path.Combine(CollDir, "wal-0000000000.log");

    /// <summary>SHA-256 over every file's name and bytes under <paramref name="dir"/> (the LOCK file included).</summary>
    internal static string HashDir(string dir)
    {
        var sb = new StringBuilder();
        foreach (var f in Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            sb.Append(Path.GetRelativePath(dir, f)).Append(':').Append(Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))).Append('\n');
        return sb.ToString();
    }

    /// <summary>Start offsets of the complete records in a WAL (v1: 12-byte record headers, v2: 16).</summary>
    internal static List<long> RecordStarts(byte[] wal)
    {
        uint ver = BitConverter.ToUInt32(wal, 8);
        int hs = ver == 1 ? 12 : 16;
        var starts = new List<long>();
        long pos = 24;
        while (pos + hs <= wal.Length)
        {
            long len = BitConverter.ToUInt32(wal, (int)pos + 4);
            if (pos + hs + len > wal.Length) break;
            starts.Add(pos);
            pos += hs + len;
        }
        return starts;
    }

    private void Create200()
    {
        var (code, _, err) = H.Run("collection", "create", "--path", Store, "--name", "c", "--space", "l2", "--no-model");
        Assert.True(code == 0, err);
        var sb = new StringBuilder();
        var r = new Random(5);
        for (int i = 0; i < 200; i++)
        {
            // 16-character documents: each 10-record WAL record is ~970 bytes, so byte 19000 lies in the 20th (last).
            sb.Append(CultureInfo.InvariantCulture, $"{{\"id\":\"r{i:D3}\",\"document\":\"doc {i:D3} abcdefgh\",\"embedding\":[");
            sb.Append(string.Join(",", H.RandVec(r, 16).Select(v => v.ToString("R", CultureInfo.InvariantCulture)))).Append("]}\n");
        }
        string input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllText(input, sb.ToString());
        (code, var o, err) = H.Run("collection", "add", "--path", Store, "--name", "c", "--input", input, "--batch-size", "10");
        Assert.True(code == 0, err);
        Assert.Equal(20, o.Split('\n').Count(l => l.StartsWith("committed ", StringComparison.Ordinal)));
    }

    private static string[] Lines(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    [Fact]
    public void FlippedByteInLastRecord_IsReported_RefusesWritable_AndRepairQuarantinesExactlyIt()
    {
        Create200();
        byte[] good = File.ReadAllBytes(Wal);
        var starts = RecordStarts(good);
        Assert.Equal(20, starts.Count);
        long last = starts[^1];
        Assert.True(last <= 19000 && 19000 < good.Length, $"byte 19000 must lie in the last record [{last}, {good.Length})");
        byte[] bad = (byte[])good.Clone();
        bad[19000] ^= 0x10;
        File.WriteAllBytes(Wal, bad);
        string before = HashDir(Store);

        // Read-only: shows the 190 records before the damage, but says so on stderr.
        var (code, o, e) = H.Run("collection", "count", "--path", Store, "--name", "c");
        Assert.Equal(0, code);
        Assert.Equal("190", o.Trim());
        var warn = Assert.Single(Lines(e));
        Assert.StartsWith("membed: warning: ", warn);
        Assert.Contains($"offset {last}", warn);
        Assert.Contains($"{good.Length - last} bytes", warn);

        // A no-op writable command must not cut the log: it refuses with one error line, exit 2.
        (code, _, e) = H.Run("collection", "delete", "--path", Store, "--name", "c", "--ids", "zzz");
        Assert.Equal(2, code);
        var err = Assert.Single(Lines(e));
        Assert.StartsWith("membed: error: ", err);
        Assert.Contains("repair", err);
        Assert.Equal(bad, File.ReadAllBytes(Wal));

        // check reports and changes nothing; repair without --yes is a dry run.
        (code, o, _) = H.Run("collection", "check", "--path", Store, "--name", "c");
        Assert.Equal(1, code);
        Assert.Contains($"offset {last}", Assert.Single(Lines(o)));
        (code, o, e) = H.Run("collection", "repair", "--path", Store, "--name", "c");
        Assert.Equal(1, code);
        Assert.StartsWith("would quarantine: ", Assert.Single(Lines(o)));
        Assert.StartsWith("membed: error: ", Assert.Single(Lines(e)));
        Assert.Equal(before, HashDir(Store));

        (code, o, e) = H.Run("collection", "repair", "--path", Store, "--name", "c", "--yes");
        Assert.True(code == 0, e);
        var line = Assert.Single(Lines(o));
        Assert.StartsWith("repaired: ", line);
        Assert.Contains($"offset {last}", line);
        Assert.Contains("1 record", line);
        string q = Assert.Single(Directory.GetFiles(CollDir, "wal-0000000000.log.quarantine-*"));
        Assert.Contains(q, line);
        Assert.Equal(bad[(int)last..], File.ReadAllBytes(q));    // exactly the dropped bytes, damage and all
        Assert.Equal(good[..(int)last], File.ReadAllBytes(Wal)); // the prefix, untouched

        (code, o, e) = H.Run("collection", "count", "--path", Store, "--name", "c");
        Assert.Equal((0, "190", ""), (code, o.Trim(), e));
        (code, o, _) = H.Run("collection", "check", "--path", Store, "--name", "c");
        Assert.Equal(0, code);
        // Writable again, and the quarantine file survives later writers (it is not an orphan).
        (code, _, e) = H.Run("collection", "delete", "--path", Store, "--name", "c", "--ids", "r000");
        Assert.Equal((0, ""), (code, e));
        Assert.True(File.Exists(q));
    }

    [Fact]
    public void TornTail_IsDroppedWithAWarningAndQuarantined()
    {
        Create200();
        byte[] good = File.ReadAllBytes(Wal);
        long last = RecordStarts(good)[^1];
        int cut = (int)last + 100;
        File.WriteAllBytes(Wal, good[..cut]);

        var (code, o, e) = H.Run("collection", "count", "--path", Store, "--name", "c");
        Assert.Equal((0, "190"), (code, o.Trim()));
        Assert.StartsWith("membed: warning: ", Assert.Single(Lines(e)));
        Assert.Equal(cut, new FileInfo(Wal).Length); // read-only changed nothing

        (code, o, e) = H.Run("collection", "delete", "--path", Store, "--name", "c", "--ids", "zzz");
        Assert.Equal(0, code);
        Assert.Equal("deleted 0", o.Trim());
        var warn = Assert.Single(Lines(e));
        Assert.StartsWith("membed: warning: ", warn);
        Assert.Contains("torn", warn);
        Assert.Contains($"offset {last}", warn);
        string q = Assert.Single(Directory.GetFiles(CollDir, "wal-0000000000.log.quarantine-*"));
        Assert.Equal(good[(int)last..cut], File.ReadAllBytes(q));
        Assert.Equal(last, new FileInfo(Wal).Length);
    }

    [Fact]
    public void CheckAndRepairRejectBadInputWithOneLine()
    {
        Create200();
        foreach (var args in new[]
        {
            new[] { "collection", "check", "--path", Store },
            new[] { "collection", "check", "--path", Store, "--name", "nope" },
            new[] { "collection", "repair", "--path", Store, "--name", "c", "--bogus" },
            new[] { "collection", "check", "--path", Path.Combine(_dir, "missing"), "--name", "c" },
        })
        {
            var (code, _, e) = H.Run(args);
            Assert.Equal(2, code);
            Assert.StartsWith("membed: error: ", Assert.Single(Lines(e)));
        }
        var (c2, o2, e2) = H.Run("collection", "check", "--path", Store, "--name", "c");
        Assert.Equal((0, ""), (c2, e2));
        Assert.Equal("collection c: ok", o2.Trim());
    }
}
