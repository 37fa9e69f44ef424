#!/usr/bin/env bash
# Every symbol a library exports carries its prefix (run from the repository root with BUILD set, as `make test`
# does): libbbtmodels.a only lm_*, tokenizer_*, st_* (models/libbbtmodels.syms) and the common/ leaf's common_*;
# libbbttok.a tok_*, tokenizer_*, uc_* and common_*; libbbtoptim.a cmaes_*, pcg_* and common_*; libbbtoptim.so only
# cmaes_* and pcg_* (optim/libbbtoptim.map: common_* stays local there).
set -euo pipefail
BUILD=${BUILD:-build}
fail=0
check() { # check FILE NM-OPTIONS ALLOWED-REGEX
    local file=$1 opts=$2 allowed=$3 bad
    [ -f "$file" ] || { echo "exports.sh: $file missing (build first)"; fail=1; return; }
    # (__odr_asan.NAME: the address sanitizer's marker for our global NAME, in the sanitizer build)
    bad=$(nm $opts "$file" 2>/dev/null | awk 'NF >= 3 && $2 ~ /^[TDBRVWiu]$/ {print $3}' | sed 's/^__odr_asan\.//' \
          | sort -u | grep -Ev "$allowed" || true)
    if [ -n "$bad" ]; then
        echo "exports.sh: $file exports symbols without its prefix:"; echo "$bad" | sed 's/^/    /'; fail=1
    fi
}
check "$BUILD/libbbtmodels.a" "-g --defined-only" '^(lm_|tokenizer_|st_|common_)'
check "$BUILD/libbbttok.a" "-g --defined-only" '^(tok_|tokenizer_|uc_|common_)'
check "$BUILD/libbbtoptim.a" "-g --defined-only" '^(cmaes_|pcg_|common_)'
if [ -f "$BUILD/libbbtoptim.so" ]; then
    check "$BUILD/libbbtoptim.so" "-D --defined-only" '^(cmaes_|pcg_)'
fi
[ $fail = 0 ] && echo "exports.sh: every exported symbol has its library's prefix"
exit $fail
