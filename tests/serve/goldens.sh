#!/usr/bin/env bash
# tests/serve/goldens.sh — regenerate the torch.save goldens with PyTorch (Debian's python3-torch) and read them with
# the server's reader, when torch is installed; otherwise the committed goldens (read by test_serve) stand alone.
# The regenerated files must also equal the committed ones byte for byte (torch 1.13 writes deterministic archives),
# so a change of PyTorch's format shows up here. Run from the repository root with BUILD set.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
PY=/usr/bin/python3
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "goldens.sh: SKIP: PyTorch is not installed (apt-get install python3-torch); the committed goldens are tested by test_serve"
    exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" tests/serve/make_goldens.py "$tmp"
SERVE_GOLDENS=$tmp "$BUILD/tests/test_serve" --filter 'torchzip/*' --jobs 1
version=$("$PY" -c 'import torch; print(torch.__version__)')
for f in "$tmp"/*.pt; do
    if ! cmp -s "$f" "tests/serve/goldens/$(basename "$f")"; then
        echo "goldens.sh: note: torch $version writes $(basename "$f") differently from the committed golden (read correctly above)"
    fi
done
echo "goldens.sh: torch $version's files read correctly"
