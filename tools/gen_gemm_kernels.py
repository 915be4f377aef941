#!/usr/bin/env python3
"""Generates src/ManagedEmbed.Kernels/GemmKernels.g.cs: the register-tiled GEMM micro-kernels.

Each kernel computes an MR x NR tile C (+)= A[MR, kc] · B[kc, NR], where A rows have stride lda and B is one packed
panel (kc rows of NR contiguous floats), and stores (acc + bias) + residual when given a bias (NR floats) or residual
rows (stride ldr): the GEMM epilogue's additions, applied in registers before the tile's only store. The accumulators are MR * NR/lanes vector locals, so the JIT keeps them in
registers (24 of 32 zmm for 8x48 and for 12x32, the narrow variant for products whose 32-wide panels pad fewer
columns (n ≤ 32 or 64-128 columns in Gemm.MatMul / MatMulTransB), with 8- and 4-row variants;
12 of 16 ymm/xmm for 6x16 and 6x8; 4- and 2-row variants of those for partial row groups). Unrolled by hand because
the JIT does not unroll, and a loop over an accumulator array would live in memory."""
import sys

def kernel(name, vec, lanes, mr, nv, fma):
    nr = lanes * nv
    L = []
    L.append(f"    /// <summary>{mr}x{nr} tile on {vec}&lt;float&gt;.</summary>")
    L.append(f"    [MethodImpl(MethodImplOptions.AggressiveOptimization)]")
    L.append(f"    internal static unsafe void {name}(float* a, nint lda, float* b, float* c, nint ldc, int kc, bool accumulate, float* pf, bool nta,")
    L.append(f"        float* bias, float* res, nint ldr)")
    L.append("    {")
    accs = [f"c{r}{v}" for r in range(mr) for v in range(nv)]
    L.append(f"        {vec}<float> " + ", ".join(accs) + ";")
    # C rows are addressed through a pointer stepped by ldc (here, in the prefetch and in the stores): with c + r·ldc
    # the JIT kept the row offsets live across the loop and spilled loop registers for them.
    L.append("        float* cr;")
    L.append("        if (accumulate)")
    L.append("        {")
    L.append("            cr = c;")
    for r in range(mr):
        for v in range(nv):
            L.append(f"            c{r}{v} = {vec}.Load(cr + {v * lanes});")
        if r < mr - 1:
            L.append("            cr += ldc;")
    L.append("        }")
    L.append("        else")
    L.append("        {")
    # A fresh tile's output lines are fetched now, so the stores after the loop (and the epilogue that reads them
    # back) find them in L1 instead of waiting on read-for-ownership misses: the output of a 1024-row GEMM is
    # megabytes, beyond L2. Measured in-process A/B, 1024 rows, one thread, AVX-512: 2-8% faster per GEMM.
    L.append("            if (Sse.IsSupported)")
    L.append("            {")
    L.append("                cr = c;")
    for r in range(mr):
        for off in sorted(set([q * 16 for q in range(max(1, nr * 4 // 64))] + [nr - 1])):
            L.append(f"                Sse.Prefetch0(cr + {off});")
        if r < mr - 1:
            L.append("                cr += ldc;")
    L.append("            }")
    for r in range(mr):
        for v in range(nv):
            L.append(f"            c{r}{v} = {vec}<float>.Zero;")
    L.append("        }")
    # A rows are addressed from two moving pointers (rows 0-3 and 4-7 of the group) with the loop-invariant
    # strides lda, 2·lda, 3·lda as index registers, so the loop needs few general registers (eight row pointers
    # plus panel, prefetch and bounds left one spilled and reloaded every iteration).
    groups = (mr + 3) // 4
    if mr > 2:
        L.append("        nint lda2 = 2 * lda" + (", lda3 = 3 * lda;" if mr > 3 else ";"))
    for g in range(groups):
        L.append(f"        float* a{g}p = a + {4 * g} * lda;")
    L.append(f"        float* bEnd = b + (nint)kc * {nr};")
    for kind, call in (("if (nta)", "Sse.PrefetchNonTemporal"), ("else", "Sse.Prefetch0")):
        # One loop per prefetch kind: the flag is not re-tested (and reloaded) every iteration.
        L.append(f"        {kind}")
        L.append("        {")
        L.append("            for (; b < bEnd; b += %d, pf += %d)" % (nr, nr))
        L.append("            {")
        for v in range(nv):
            L.append(f"                {vec}<float> b{v} = {vec}.Load(b + {v * lanes});")
        # One software prefetch per cache line of panel consumed (pf runs ahead over the weights the next tiles
        # need, so the weight stream from memory overlaps the arithmetic; pf == b when there is nothing to fetch).
        # nta: the lines are used by this row block's few tiles from L1 and never again (prefetchnta, measured
        # 5-15% faster than prefetcht0 for 16-32 rows streaming weights from memory on the AVX-512 machine);
        # otherwise into every level (panels reused from L2 by many row tiles).
        L.append("                if (Sse.IsSupported)")
        L.append("                {")
        for q in range(max(1, nr * 4 // 64)):
            L.append(f"                    {call}(pf + {q * 16});")
        L.append("                }")
        for r in range(mr):
            base = f"a{r // 4}p"
            idx = ["", "[lda]", "[lda2]", "[lda3]"][r % 4]
            elem = f"*{base}" if idx == "" else f"{base}{idx}"
            L.append(f"                {vec}<float> x{r} = {vec}.Create({elem});")
            for v in range(nv):
                L.append(f"                c{r}{v} = {fma(f'x{r}', f'b{v}', f'c{r}{v}')};")
        for g in range(groups):
            L.append(f"                a{g}p++;")
        L.append("            }")
        L.append("        }")
    # The epilogue's bias and residual join the accumulators before the one store of the tile, in the order of
    # Hugging Face's rounding ((acc + bias) + residual, the activation between them is applied by the caller, which
    # then passes no residual): bit-identical to storing the tile and adding them from memory afterwards, without the
    # reload and second store of the tile (measured: that round trip cost 4-7% of a 512-row GEMM with a bias).
    L.append("        cr = c;")
    # One store sequence per case (plain, + bias, + residual, + both): no test per vector.
    cases = (("if (bias == null && res == null)", []), ("else if (res == null)", ["bias"]),
             ("else if (bias == null)", ["res"]), ("else", ["bias", "res"]))
    for head, terms in cases:
        L.append(f"        {head}")
        L.append("        {")
        for r in range(mr):
            for v in range(nv):
                expr = f"c{r}{v}"
                for t in terms:
                    expr = f"({expr} + {vec}.Load({t} + {v * lanes}))"
                L.append(f"            {expr}.Store(cr + {v * lanes});" if terms else f"            c{r}{v}.Store(cr + {v * lanes});")
            if r < mr - 1:
                L.append("            cr += ldc;" + (" res += ldr;" if "res" in terms else ""))
        L.append("        }")
    L.append("    }")
    return "\n".join(L)

# The multiply-add of each vector width, as C# source, c + x·b: fused on AVX-512; MultiplyAddEstimate fuses where
# the hardware has FMA.
FMA512 = lambda x, b, c: f"Avx512F.FusedMultiplyAdd({x}, {b}, {c})"
FMA256 = lambda x, b, c: f"Vector256.MultiplyAddEstimate({x}, {b}, {c})"
FMA128 = lambda x, b, c: f"Vector128.MultiplyAddEstimate({x}, {b}, {c})"

out = ["// Generated by tools/gen_gemm_kernels.py; do not edit by hand.",
       "using System.Runtime.CompilerServices;",
       "using System.Runtime.Intrinsics;",
       "using System.Runtime.Intrinsics.X86;",
       "",
       "namespace ManagedEmbed.Kernels;",
       "",
       "internal static partial class GemmKernels",
       "{",
       kernel("Kernel512", "Vector512", 16, 8, 3, FMA512),
       "",
       kernel("Kernel512x32", "Vector512", 16, 12, 2, FMA512),
       "",
       # Partial row groups of the narrow tile (16, 32 or 128 rows leave 4 or 8 rows after the 12-row tiles): shorter
       # tiles over the same panels, stored straight into C.
       kernel("Kernel512x32r8", "Vector512", 16, 8, 2, FMA512),
       "",
       kernel("Kernel512x32r4", "Vector512", 16, 4, 2, FMA512),
       "",
       kernel("Kernel256", "Vector256", 8, 6, 2, FMA256),
       "",
       kernel("Kernel128", "Vector128", 4, 6, 2, FMA128),
       "",
       # Partial row groups (M not a multiple of 6, e.g. the 4 last rows of a 16-token batch): 4- and 2-row tiles over
       # the same panels, so no rows of padding are multiplied and full-width tiles are stored straight into C.
       kernel("Kernel256x4", "Vector256", 8, 4, 2, FMA256),
       "",
       kernel("Kernel256x2", "Vector256", 8, 2, 2, FMA256),
       "",
       kernel("Kernel128x4", "Vector128", 4, 4, 2, FMA128),
       "",
       kernel("Kernel128x2", "Vector128", 4, 2, 2, FMA128),
       "}", ""]
open(sys.argv[1], "w").write("\n".join(out))
