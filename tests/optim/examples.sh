#!/usr/bin/env bash
# examples.sh — `make install PREFIX=DIR` into a temporary directory, then build optim/examples/*.c against the
# installed library exactly as a user would (pkg-config bbtoptim), and run them. Checks the installed layout too.
set -euo pipefail
cd "$(dirname "$0")/../.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"

# a plain (unsanitised) build of its own: what `make install` gives a user. A calling `make test` exports its
# command-line variables (SAN=1, OPT=-O1, MAKEFLAGS ...): none of them may leak into this build.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u SAN -u OPT -u CFLAGS -u LDFLAGS -u BUILD \
    make -s install PREFIX="$prefix" BUILD="$tmp/build" >/dev/null

for f in include/bbt/cmaes.h include/bbt/pcg.h lib/libbbtoptim.a lib/libbbtoptim.so lib/pkgconfig/bbtoptim.pc; do
    [ -f "$prefix/$f" ] || { echo "examples.sh: $f was not installed" >&2; exit 1; }
done
# the shared library exports the API and nothing else
if nm -D --defined-only "$prefix/lib/libbbtoptim.so" | awk '{print $3}' | grep -v -E '^(cmaes_|pcg_)' | grep -q .; then
    echo "examples.sh: libbbtoptim.so exports symbols outside the cmaes_/pcg_ API" >&2
    exit 1
fi

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for src in optim/examples/*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror -O2 "$src" $(pkg-config --cflags --libs bbtoptim) -lm -o "$tmp/$name"
    echo "-- $name"
    (cd "$tmp" && "./$name")
done
# static linking works too
# shellcheck disable=SC2046
cc -std=c11 -O2 optim/examples/rosenbrock.c $(pkg-config --cflags bbtoptim) "$prefix/lib/libbbtoptim.a" \
    $(pkg-config --libs-only-other --static bbtoptim) $(pkg-config --static --libs bbtoptim | sed 's/-lbbtoptim//') \
    -o "$tmp/rosenbrock-static"
"$tmp/rosenbrock-static" >/dev/null
echo "examples: ok"
