#!/usr/bin/env bash
# python.sh — the Python binding (optim/python/bbtoptim) as a user gets it: `make install PREFIX=DIR` into a temporary
# directory installs the C library and the module beside it; tests/optim/test_python.py then runs against that copy,
# with python_trace.c (the C side of the bit-for-bit comparisons) and optim/examples/rosenbrock.c built against the
# installed library. Skipped with a message when the Python has no numpy; the Optuna tests skip themselves when
# optuna is absent. PYTHON (default /usr/bin/python3, Debian's, where python3-numpy/-optuna/-cmaes install) picks it.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PYTHON:-/usr/bin/python3}
if ! "$py" -c 'import numpy' 2>/dev/null; then
    echo "python.sh: skipped: $py cannot import numpy (install python3-numpy)"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="$tmp/prefix"
# a plain build of its own, as examples.sh: the sanitised library of `make test` cannot be loaded into Python
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u SAN -u OPT -u CFLAGS -u LDFLAGS -u BUILD \
    make -s install PREFIX="$prefix" BUILD="$tmp/build" PYTHON="$py" >/dev/null
site=$("$py" -c 'import sys, sysconfig; print(sysconfig.get_path("purelib", "posix_prefix", vars={"base": sys.argv[1]}))' \
       "$prefix")
for f in "$site/bbtoptim/__init__.py" "$site/bbtoptim/optuna.py" "$prefix/lib/libbbtoptim.so"; do
    [ -f "$f" ] || { echo "python.sh: $f was not installed" >&2; exit 1; }
done

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror -O2 -D_POSIX_C_SOURCE=200809L -I. tests/optim/python_trace.c \
    -L"$prefix/lib" -Wl,-rpath,"$prefix/lib" -lbbtoptim -lm -o "$tmp/python_trace"
# shellcheck disable=SC2046
cc -std=c11 -O2 optim/examples/rosenbrock.c $(pkg-config --cflags --libs bbtoptim) -Wl,-rpath,"$prefix/lib" \
    -o "$tmp/rosenbrock"

# The module finds the library beside itself (no BBTOPTIM_LIB, no LD_LIBRARY_PATH): what an installed copy does.
env -u BBTOPTIM_LIB -u LD_LIBRARY_PATH PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$site" TRACE="$tmp/python_trace" ROSENBROCK="$tmp/rosenbrock" \
    "$py" tests/optim/test_python.py 2>&1
