#!/usr/bin/env bash
# Regenerates SimdMath256.cs / SimdMath128.cs and AttentionProduct256.cs / AttentionProduct128.cs from their Vector512
# templates (same algorithms, narrower vectors).
set -euo pipefail
cd "$(dirname "$0")/../src/ManagedEmbed.Kernels"
for w in 256 128; do
  { echo "// Generated from SimdMath512.cs by tools/gen_simdmath.sh; edit the template and regenerate."
    sed -e "s/Vector512/Vector$w/g" -e "s/Epilogue512/Epilogue$w/g" -e "s/SoftmaxRows512/SoftmaxRows$w/g" SimdMath512.cs | sed 1,2d
  } > SimdMath$w.cs
done
for w in 256 128; do
  { echo "// Generated from AttentionProduct512.cs by tools/gen_simdmath.sh; edit the template and regenerate."
    sed -e "s/Vector512/Vector$w/g" -e "s/512(/$w(/g" AttentionProduct512.cs | sed 1,2d
  } > AttentionProduct$w.cs
done
