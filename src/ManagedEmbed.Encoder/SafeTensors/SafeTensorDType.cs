namespace ManagedEmbed.Encoder.SafeTensors;

/// <summary>Element types a safetensors header may declare.</summary>
public enum SafeTensorDType
{
    /// <summary>Boolean (1 byte).</summary>
    Bool,
    /// <summary>Unsigned 8-bit integer.</summary>
    U8,
    /// <summary>Signed 8-bit integer.</summary>
    I8,
    /// <summary>Unsigned 16-bit integer.</summary>
    U16,
    /// <summary>Signed 16-bit integer.</summary>
    I16,
    /// <summary>IEEE half precision.</summary>
    F16,
    /// <summary>bfloat16 (upper 16 bits of an IEEE single).</summary>
    BF16,
    /// <summary>Unsigned 32-bit integer.</summary>
    U32,
    /// <summary>Signed 32-bit integer.</summary>
    I32,
    /// <summary>IEEE single precision.</summary>
    F32,
    /// <summary>Unsigned 64-bit integer.</summary>
    U64,
    /// <summary>Signed 64-bit integer.</summary>
    I64,
    /// <summary>IEEE double precision.</summary>
    F64,
}

/// <summary>Helpers for <see cref="SafeTensorDType"/>.</summary>
public static class SafeTensorDTypes
{
    /// <summary>Size of one element in bytes.</summary>
    public static int SizeOf(SafeTensorDType t) => t switch
    {
        SafeTensorDType.Bool or SafeTensorDType.U8 or SafeTensorDType.I8 => 1,
        SafeTensorDType.U16 or SafeTensorDType.I16 or SafeTensorDType.F16 or SafeTensorDType.BF16 => 2,
        SafeTensorDType.U32 or SafeTensorDType.I32 or SafeTensorDType.F32 => 4,
        SafeTensorDType.U64 or SafeTensorDType.I64 or SafeTensorDType.F64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>The header spelling ("F32", "BF16", ...).</summary>
    public static string Name(SafeTensorDType t) => t switch
    {
        SafeTensorDType.Bool => "BOOL",
        _ => t.ToString(),
    };

    /// <summary>Parses a header dtype string; false for unknown names.</summary>
    public static bool TryParse(string s, out SafeTensorDType t)
    {
        switch (s)
        {
            case "BOOL": t = SafeTensorDType.Bool; return true;
            case "U8": t = SafeTensorDType.U8; return true;
            case "I8": t = SafeTensorDType.I8; return true;
            case "U16": t = SafeTensorDType.U16; return true;
            case "I16": t = SafeTensorDType.I16; return true;
            case "F16": t = SafeTensorDType.F16; return true;
            case "BF16": t = SafeTensorDType.BF16; return true;
            case "U32": t = SafeTensorDType.U32; return true;
            case "I32": t = SafeTensorDType.I32; return true;
            case "F32": t = SafeTensorDType.F32; return true;
            case "U64": t = SafeTensorDType.U64; return true;
            case "I64": t = SafeTensorDType.I64; return true;
            case "F64": t = SafeTensorDType.F64; return true;
            default: t = default; return false;
        }
    }
}
