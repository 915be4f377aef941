namespace ManagedEmbed.Kernels;

/// <summary>Element-wise activation applied in a GEMM epilogue or on its own.</summary>
public enum Activation
{
    /// <summary>Identity.</summary>
    None = 0,
    /// <summary>GELU, exact erf form: x * 0.5 * (1 + erf(x / sqrt 2)). Hugging Face "gelu".</summary>
    Gelu = 1,
    /// <summary>GELU, tanh approximation. Hugging Face "gelu_new" / "gelu_pytorch_tanh".</summary>
    GeluTanh = 2,
    /// <summary>max(0, x).</summary>
    Relu = 3,
}
