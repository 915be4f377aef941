using System.Buffers.Binary;
using System.Text;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Encoder.Tests;

public class SafeTensorsTests
{
    private static string WriteRaw(byte[] header, byte[] data, long? lengthField = null)
    {
        string path = Path.Combine(TestPaths.NewTempDir("membed-st"), "t.safetensors");
        var bytes = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, (ulong)(lengthField ?? header.Length));
        header.CopyTo(bytes, 8);
        data.CopyTo(bytes, 8 + header.Length);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Write(string headerJson, int dataBytes) => WriteRaw(Encoding.UTF8.GetBytes(headerJson), new byte[dataBytes]);

    private static string OpenError(string path)
    {
        var e = Assert.Throws<ManagedEmbedException>(() => SafeTensorsFile.Open(path).Dispose());
        Assert.DoesNotContain('\n', e.Message);
        return e.Message;
    }

    [Fact]
    public void ReadsValidFileZeroCopy()
    {
        var values = new float[] { 1.5f, -2f, 3.25f, 0f, 7f, -0.125f };
        var data = new byte[8 + 24];
        BinaryPrimitives.WriteInt64LittleEndian(data, 42);
        SafeTensorsWriter.ToBytes(values).CopyTo(data, 8);
        string path = WriteRaw(Encoding.UTF8.GetBytes(
            """{"__metadata__":{"format":"pt"},"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"bert.w":{"dtype":"F32","shape":[2,3],"data_offsets":[8,32]}}"""), data);
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal("pt", f.Metadata["format"]);
        Assert.Equal(2, f.Tensors.Count);
        // Exact names only: prefix fallbacks are the model loader's business (ModelWeights), not the file reader's.
        Assert.False(f.TryGet("w", out _));
        var w = f.ReadFloat("bert.w");
        Assert.Equal(values, w.Span.ToArray());
        Assert.Equal(values, f.ReadFloatArray(f.Get("bert.w")));
        Assert.Equal(new[] { 0f, 7f, -0.125f }, w.Row(1).ToArray());
        Assert.Equal(new long[] { 42 }, f.ReadInt64(f.Get("ids")));
        Assert.Contains("'missing'", Assert.Throws<ManagedEmbedException>(() => f.Get("missing")).Message);
        Assert.Contains("expected a floating-point type", Assert.Throws<ManagedEmbedException>(() => f.ReadFloat("ids")).Message);
    }

    [Fact]
    public void RoundTripsThroughWriter()
    {
        string path = Path.Combine(TestPaths.NewTempDir("membed-st"), "w.safetensors");
        var a = Enumerable.Range(0, 12).Select(i => i * 0.5f - 3).ToArray();
        using (var fs = File.Create(path))
            SafeTensorsWriter.Write(fs, [
                new SafeTensorEntry("b", SafeTensorDType.F32, [3, 4], () => SafeTensorsWriter.ToBytes(a)),
                new SafeTensorEntry("a", SafeTensorDType.I64, [2], () => SafeTensorsWriter.ToBytes(new long[] { 5, -6 })),
            ], new Dictionary<string, string> { ["format"] = "pt" });
        using var f = SafeTensorsFile.Open(path);
        Assert.Equal(new[] { "a", "b" }, f.Tensors.Select(t => t.Name)); // 8-byte types first, then by name
        Assert.Equal(0, f.DataOffset % 8);
        Assert.Equal(a, f.ReadFloat("b").Span.ToArray());
        Assert.Equal(new long[] { 5, -6 }, f.ReadInt64(f.Get("a")));
    }

    [Fact]
    public void ConvertsF16AndBF16Exactly()
    {
        var halves = new[] { (Half)1.0f, (Half)(-2.5f), Half.Epsilon, Half.MaxValue, (Half)0.333f, Half.NegativeZero };
        var f16 = new byte[halves.Length * 2];
        for (int i = 0; i < halves.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(f16.AsSpan(2 * i), BitConverter.HalfToUInt16Bits(halves[i]));
        var floats = new[] { 1.0f, -3.140625f, 1e-30f, 65504f, float.MaxValue };
        var bf16 = new byte[floats.Length * 2];
        var expectedBf = new float[floats.Length];
        for (int i = 0; i < floats.Length; i++)
        {
            ushort top = (ushort)(BitConverter.SingleToUInt32Bits(floats[i]) >> 16);
            BinaryPrimitives.WriteUInt16LittleEndian(bf16.AsSpan(2 * i), top);
            expectedBf[i] = BitConverter.UInt32BitsToSingle((uint)top << 16);
        }
        string path = WriteRaw(Encoding.UTF8.GetBytes(
            "{\"h\":{\"dtype\":\"F16\",\"shape\":[" + halves.Length + "],\"data_offsets\":[0," + f16.Length + "]},\"b\":{\"dtype\":\"BF16\",\"shape\":[" + floats.Length + "],\"data_offsets\":[" + f16.Length + "," + (f16.Length + bf16.Length) + "]}}"),
            f16.Concat(bf16).ToArray());
        using var f = SafeTensorsFile.Open(path);
        var h = f.ReadFloat("h");
        Assert.Equal(halves.Select(x => (float)x).ToArray(), h.Span.ToArray());
        Assert.True(float.IsNegative(h.Span[5]));
        Assert.Equal(expectedBf, f.ReadFloat("b").Span.ToArray());
        // The file-read path (used for weights that get re-packed) converts identically.
        Assert.Equal(h.Span.ToArray(), f.ReadFloatArray(f.Get("h")));
        Assert.Equal(expectedBf, f.ReadFloatArray(f.Get("b")));
        Assert.Equal(-3.140625f, f.ReadFloat("b").Span[1]); // exactly representable in bf16
    }

    [Fact]
    public void RejectsFileShorterThanLengthField()
    {
        string path = Path.Combine(TestPaths.NewTempDir("membed-st"), "short.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Contains("truncated", OpenError(path));
    }

    [Fact]
    public void RejectsHeaderLengthBeyondFile()
    {
        string msg = OpenError(WriteRaw(Encoding.UTF8.GetBytes("{}"), [], lengthField: 1000));
        Assert.Contains("header length 1000", msg);
        Assert.Contains("exceeds", OpenError(WriteRaw(Encoding.UTF8.GetBytes("{}"), [], lengthField: long.MaxValue)));
    }

    [Theory]
    [InlineData("{\"a\":{\"dtype\":\"F32\",", "not valid JSON")]
    [InlineData("[1,2]", "must be a JSON object")]
    [InlineData("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}} trailing", "not valid JSON")]
    public void RejectsBadJson(string header, string expected) => Assert.Contains(expected, OpenError(Write(header, 4)));

    [Fact]
    public void RejectsInvalidUtf8Header() =>
        Assert.Contains("not valid", OpenError(WriteRaw([(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}'], [])));

    [Theory]
    [InlineData("""{"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}""", "tensor 'w': unknown dtype 'F33'")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}""", "tensor 'w': shape [2, 2] × F32 needs 16 bytes but data_offsets [0, 12) hold 12")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", "tensor 'w': data_offsets [8, 4) end before")]
    [InlineData("""{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", "tensor 'w': shape entry -1")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", "tensor 'w': 'data_offsets' must be")]
    [InlineData("""{"w":{"shape":[1],"data_offsets":[0,4]}}""", "tensor 'w': missing or non-string 'dtype'")]
    [InlineData("""{"w":{"dtype":"F32","data_offsets":[0,4]}}""", "tensor 'w': missing or non-array 'shape'")]
    [InlineData("""{"w":[1]}""", "tensor 'w': entry must be an object")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}""", "tensor 'w': data_offsets [8, 24) lie past the end of the 16-byte data section: the file is truncated")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", "tensor 'b' bytes [4, 12) overlap tensor 'a' bytes [0, 8)")]
    [InlineData("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", "tensor 'w' appears twice")]
    [InlineData("""{"__metadata__":{"format":1}}""", "__metadata__ value 'format' is not a string")]
    [InlineData("""{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,4]}}""", "tensor 'w': shape entry")]
    [InlineData("""{"w":{"dtype":"F32","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,4]}}""", "tensor 'w': shape [2147483647, 2147483647, 2147483647] is too large")]
    public void RejectsLyingHeaders(string header, string expected)
    {
        string msg = OpenError(Write(header, 16));
        Assert.Contains(expected, msg);
    }

    [Fact]
    public void TruncatedFileOpensOnlyWhenAllowedAndCompleteTensorsStayReadable()
    {
        var data = SafeTensorsWriter.ToBytes(new float[] { 1, 2, 3 });
        string path = WriteRaw(Encoding.UTF8.GetBytes(
            """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"""), data);
        Assert.Contains("tensor 'b'", OpenError(path));
        using var f = SafeTensorsFile.Open(path, allowTruncated: true);
        Assert.True(f.IsTruncated);
        Assert.Equal(new float[] { 1, 2 }, f.ReadFloat("a").Span.ToArray());
        Assert.Contains("truncated", Assert.Throws<ManagedEmbedException>(() => f.ReadFloat("b")).Message);
    }

    [Fact]
    public void RowReadsMatchWholeTensorReadsAndDieWithTheFile()
    {
        // 5 x 3 F32 matrix after a 4-byte tensor, so rows start at a non-zero data offset.
        var data = new byte[4 + 5 * 3 * 4];
        for (int i = 0; i < 15; i++) BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4 + 4 * i), i * 1.5f - 7);
        string path = WriteRaw(Encoding.UTF8.GetBytes(
            """{"s":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"m":{"dtype":"F32","shape":[5,3],"data_offsets":[4,64]},"h":{"dtype":"F16","shape":[2,2],"data_offsets":[64,72]}}"""),
            [.. data, .. new byte[8]]);
        var f = SafeTensorsFile.Open(path);
        var m = f.Get("m");
        Assert.True(SafeTensorsFile.CanReadRowsDirectly(m));
        Assert.False(SafeTensorsFile.CanReadRowsDirectly(f.Get("h")));
        var whole = f.ReadFloat(m);
        var row = new float[3];
        for (int r = 4; r >= 0; r--)
        {
            f.ReadRowF32(m, r, row);
            Assert.Equal(whole.Row(r).ToArray(), row);
        }
        Assert.Throws<ArgumentOutOfRangeException>(() => f.ReadRowF32(m, 5, row));
        Assert.Throws<ArgumentException>(() => f.ReadRowF32(m, 0, new float[2]));
        Assert.Throws<ArgumentException>(() => f.ReadRowF32(f.Get("h"), 0, new float[2]));
        f.Dispose();
        Assert.Throws<ObjectDisposedException>(() => f.ReadRowF32(m, 0, row));
    }

    [Fact]
    public void ReadsAfterDisposeThrow()
    {
        string path = WriteRaw(Encoding.UTF8.GetBytes("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"""), new byte[8]);
        var f = SafeTensorsFile.Open(path);
        var w = f.ReadFloat("w");
        Assert.Equal(2, w.Span.Length);
        f.Dispose();
        Assert.Equal(2, w.Span.Length); // a copy: it outlives the file
        Assert.Throws<ObjectDisposedException>(() => f.ReadFloat("w"));
        Assert.Throws<ObjectDisposedException>(() => f.GetBytes(f.Get("w")).Length);
    }

    [Fact]
    public void MissingFileIsAClearError() =>
        Assert.Contains("does not exist", Assert.Throws<ManagedEmbedException>(() => SafeTensorsFile.Open("/nonexistent/x.safetensors")).Message);
}
