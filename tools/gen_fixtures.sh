#!/usr/bin/env bash
# Regenerates tests/fixtures/encoder/*-synth.json (see tools/README.md; --only NAME,... for some). Needs Debian's /usr/bin/python3
# with torch + numpy, the .NET SDK, and ../shared beside the repo.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
dotnet build src/ManagedEmbed.Cli -c Release -nologo -v q
membed="$(ls "$repo"/src/ManagedEmbed.Cli/bin/Release/net*/membed | head -n 1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 "$repo/tools/gen_fixtures.py" --membed "$membed" --shared "$repo/../shared" --work "$work" \
    --out "$repo/tests/fixtures/encoder" "$@"
