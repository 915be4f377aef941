using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Index;

/// <summary>Input checks shared by the indexes.</summary>
internal static class Validation
{
    public static int Rows(ReadOnlySpan<float> data, int dim, string what)
    {
        if (data.Length % dim != 0)
            throw new ManagedEmbedException($"{what}: {data.Length} floats is not a multiple of the dimension {dim}");
        return data.Length / dim;
    }

    public static void Finite(ReadOnlySpan<float> data, int dim, string what)
    {
        int i = FirstNonFinite(data);
        if (i >= 0)
            throw new ManagedEmbedException($"{what}: vector {i / dim} has a non-finite value ({data[i]}) at coordinate {i % dim}");
    }

    /// <summary>Index of the first NaN/±∞, or −1. x − x is 0 exactly for finite x and NaN otherwise.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> data)
    {
        int i = 0;
        ref float p = ref MemoryMarshal.GetReference(data);
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= data.Length; i += 16)
            {
                var v = Vector512.LoadUnsafe(ref p, (nuint)i);
                if (!Vector512.EqualsAll(v - v, Vector512<float>.Zero)) break;
            }
        else if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= data.Length; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref p, (nuint)i);
                if (!Vector256.EqualsAll(v - v, Vector256<float>.Zero)) break;
            }
        for (; i < data.Length; i++) if (!float.IsFinite(data[i])) return i;
        return -1;
    }

    public static void K(int k)
    {
        if (k < 1) throw new ManagedEmbedException($"k must be at least 1, got {k}");
    }

    public static int Threads(int t) => t >= 1 ? t : throw new ManagedEmbedException($"threads must be at least 1, got {t}");
}
