#!/usr/bin/env bash
# Runs the kernel tests once per SIMD path: Vector512, Vector256 (AVX-512 off), Vector128 (AVX2 off), scalar.
# Note: on .NET 10 the AVX-512 switch is DOTNET_EnableAVX512 (the older DOTNET_EnableAVX512F is ignored), so both
# are set. KernelInfoTests asserts that each run really used the path it names (MEMBED_EXPECT_GEMM_PATH).
# (Run this on an AVX-512 machine; elsewhere drop the first entry.)
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tests/ManagedEmbed.Kernels.Tests -c Release -v q --nologo >/dev/null
for env in "MEMBED_EXPECT_GEMM_PATH=Vector512" \
           "DOTNET_EnableAVX512=0 DOTNET_EnableAVX512F=0 MEMBED_EXPECT_GEMM_PATH=Vector256" \
           "DOTNET_EnableAVX2=0 MEMBED_EXPECT_GEMM_PATH=Vector128" \
           "DOTNET_EnableHWIntrinsic=0 MEMBED_EXPECT_GEMM_PATH=scalar"; do
  echo "== $env"
  env $env dotnet test tests/ManagedEmbed.Kernels.Tests -c Release --no-build --nologo -v q \
    2>&1 | grep -E "Passed!|Failed"
done
