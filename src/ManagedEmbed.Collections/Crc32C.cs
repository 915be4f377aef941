using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace ManagedEmbed.Collections;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum guarding every WAL record, segment record and
/// manifest. Uses the SSE4.2 <c>crc32</c> instruction when present; <see cref="ComputeScalar"/> is the table-driven
/// reference the accelerated path is tested against.
/// </summary>
public static class Crc32C
{
    private const uint Poly = 0x82F63B78u;
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Poly : c >> 1;
            t[i] = c;
        }
        return t;
    }

    /// <summary>CRC-32C of <paramref name="data"/> (initial value and final xor 0xFFFFFFFF, as in iSCSI/ext4).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>Continues a CRC: <c>Append(Compute(a), b) == Compute(a ++ b)</c>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        uint c = ~crc;
        if (Sse42.X64.IsSupported)
        {
            // 8 bytes per instruction; the scalar loop handles the tail.
            ulong c64 = c;
            while (data.Length >= 8)
            {
                c64 = Sse42.X64.Crc32(c64, BinaryPrimitives.ReadUInt64LittleEndian(data));
                data = data[8..];
            }
            c = (uint)c64;
            foreach (byte b in data) c = Sse42.Crc32(c, b);
            return ~c;
        }
        if (Sse42.IsSupported)
        {
            while (data.Length >= 4)
            {
                c = Sse42.Crc32(c, BinaryPrimitives.ReadUInt32LittleEndian(data));
                data = data[4..];
            }
            foreach (byte b in data) c = Sse42.Crc32(c, b);
            return ~c;
        }
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }

    /// <summary>Bytewise table-driven reference implementation (no intrinsics).</summary>
    public static uint ComputeScalar(ReadOnlySpan<byte> data)
    {
        uint c = 0xFFFFFFFFu;
        foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }
}
