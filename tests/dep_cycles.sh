#!/usr/bin/env bash
# No circles between files (run from the repository root with BUILD set, as `make test` does):
#   1. #include: no project header includes itself through others (headers and sources of common/, optim/, models/,
#      bbt/);
#   2. calls: within each library (common/, optim/, models/ with models/tokenizer/), no two object files use symbols
#      of each other, directly or round a longer loop: a front file calls down into its parts, the parts call shared
#      helpers in a leaf, never back up. Read from the built objects with nm (only objects whose source still exists).
# Prints each circle found and fails.
set -euo pipefail
BUILD=${BUILD:-build}
python3 - "$BUILD" <<'PY'
import os, re, subprocess, sys
build = sys.argv[1]
dirs = ["common", "optim", "models", "models/tokenizer", "bbt"]
bad = 0

def cycles(graph):
    """Strongly connected components with more than one node (or a self loop), by Tarjan's algorithm."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]
    def visit(v):
        index[v] = low[v] = n[0]; n[0] += 1; stack.append(v); on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w); low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))
    sys.setrecursionlimit(100000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out

# 1. includes
inc = {}
for d in dirs:
    for f in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        if f.endswith((".h", ".c")):
            p = os.path.join(d, f)
            with open(p, encoding="utf-8", errors="replace") as fh:
                inc[p] = [m for m in re.findall(r'^\s*#\s*include\s+"([^"]+)"', fh.read(), re.M) if os.path.exists(m)]
for c in cycles(inc):
    print("dep_cycles.sh: include circle:", " -> ".join(c)); bad = 1

# 2. calls, per library
def source_of(obj):
    rel = os.path.relpath(obj, os.path.join(build, "obj"))[:-2]
    for cand in (rel + ".c", re.sub(r"_(avx512|avx2|base)$", "", rel) + ".c"):
        if os.path.exists(cand):
            return cand
    return None

libs = {"common": ["common"], "optim": ["optim", "common"], "models": ["models", "models/tokenizer", "common"]}
for lib, parts in libs.items():
    objs = []
    for d in parts:
        od = os.path.join(build, "obj", d)
        if os.path.isdir(od):
            objs += [os.path.join(od, f) for f in sorted(os.listdir(od))
                     if f.endswith(".o") and source_of(os.path.join(od, f))]
    defs, uses = {}, {}
    for o in objs:
        res = subprocess.run(["nm", o], capture_output=True, text=True, check=True).stdout
        uses[o] = set()
        for line in res.splitlines():
            f = line.split()
            if len(f) == 3 and f[1] in "TDBRVW":
                defs.setdefault(f[2], o)
            elif len(f) == 2 and f[0] == "U":
                uses[o].add(f[1])
    graph = {o: {defs[s] for s in uses[o] if s in defs and defs[s] != o} for o in objs}
    for c in cycles(graph):
        names = [source_of(o) for o in c]
        print(f"dep_cycles.sh: {lib}: call circle among", " ".join(names)); bad = 1
        for a in c:
            for b in graph[a]:
                if b in c:
                    syms = sorted(s for s in uses[a] if defs.get(s) == b)
                    print(f"    {source_of(a)} uses {source_of(b)}: {' '.join(syms[:6])}")
    if not objs:
        print(f"dep_cycles.sh: {lib}: no objects under {build}/obj (build first)"); bad = 1
sys.exit(bad)
PY
echo "dep_cycles.sh: no include or call circles"
