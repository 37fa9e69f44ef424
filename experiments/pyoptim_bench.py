"""pyoptim_bench.py — bbtoptim (libbbtoptim from Python) against python3-cmaes and Optuna's CmaEsSampler.
Run through experiments/pyoptim-bench.sh, which sets the paths; raw JSON lines go to the file named by --out.

    pyoptim_bench.py efficiency [--cells all|sphere-10,...]   the 12 cells of shared/reference/cmaes-reference.md
    pyoptim_bench.py overhead [--gens N]                       ms per generation at n = 500, λ = 20, full and sep
    pyoptim_bench.py optuna [--trials 2000] [--seeds 1-5]      an Optuna study, BbtCmaSampler vs CmaEsSampler
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import bbtoptim


# ---- the reference's test functions, on the rows of X (f_opt = 0) ----

def sphere(X):
    return (X * X).sum(axis=1)


def ellipsoid(X):
    n = X.shape[1]
    return (10.0 ** (6.0 * np.arange(n) / (n - 1)) * X * X).sum(axis=1)


def cigar(X):
    return X[:, 0] ** 2 + 1e6 * (X[:, 1:] ** 2).sum(axis=1)


def discus(X):
    return 1e6 * X[:, 0] ** 2 + (X[:, 1:] ** 2).sum(axis=1)


def diffpow(X):
    n = X.shape[1]
    return np.sqrt((np.abs(X) ** (2.0 + 4.0 * np.arange(n) / (n - 1))).sum(axis=1))


def rosenbrock(X):
    return (100.0 * (X[:, :-1] ** 2 - X[:, 1:]) ** 2 + (X[:, :-1] - 1.0) ** 2).sum(axis=1)


FUNCS = {f.__name__: f for f in (sphere, ellipsoid, rosenbrock, cigar, discus, diffpow)}
CELLS = [(f, n) for n in (10, 40) for f in ("sphere", "ellipsoid", "rosenbrock", "cigar", "discus", "diffpow")]
TARGET = 1e-8
BUDGET = 300000          # evaluations per run before it counts as a failure


def run_bbtoptim(func, n, seed):
    """Evaluations up to and including the first f < 1e-8 (None: the run stopped or hit the budget first)."""
    f = FUNCS[func]
    es = bbtoptim.CMA(np.full(n, 3.0), 2.0, seed=seed, max_fevals=BUDGET)
    evals = 0
    while not es.stop():
        X = es.ask(copy=False)
        v = f(X)
        hit = np.flatnonzero(v < TARGET)
        if hit.size:
            return evals + int(hit[0]) + 1
        evals += X.shape[0]
        es.tell(X, v)
    return None


def run_cmaes(func, n, seed):
    import cmaes
    f = FUNCS[func]
    opt = cmaes.CMA(mean=np.full(n, 3.0), sigma=2.0, seed=seed)
    evals = 0
    while evals < BUDGET:
        sols = []
        for _ in range(opt.population_size):
            x = opt.ask()
            v = float(f(x[None, :])[0])
            evals += 1
            if v < TARGET:
                return evals
            sols.append((x, v))
        opt.tell(sols)
        if opt.should_stop():
            return None
    return None


def efficiency(args, out):
    import cmaes   # noqa: F401  (fail early when python3-cmaes is absent)
    cells = CELLS if args.cells == "all" else [(c.split("-")[0], int(c.split("-")[1])) for c in args.cells.split(",")]
    print("%-11s %3s  %-20s %-20s %s" % ("function", "n", "bbtoptim median", "cmaes median", "bbtoptim <= cmaes"))
    met = 0
    for func, n in cells:
        row = {"bench": "efficiency", "func": func, "dim": n}
        for name, run in (("bbtoptim", run_bbtoptim), ("cmaes", run_cmaes)):
            t0 = time.process_time()
            evals = [run(func, n, s) for s in range(1, 12)]
            ok = sorted(e for e in evals if e is not None)
            # median over the 11 runs, a failure counting as +inf (as the reference's medians of successes are not)
            full = sorted(e if e is not None else float("inf") for e in evals)
            row[name] = {"evals": evals, "successes": len(ok), "median": full[5],
                         "median_successes": ok[len(ok) // 2] if ok else None, "cpu_s": time.process_time() - t0}
        a, b = row["bbtoptim"], row["cmaes"]
        row["met"] = a["median"] <= b["median"]
        met += row["met"]
        out.write(json.dumps(row) + "\n")
        out.flush()
        print("%-11s %3d  %-20s %-20s %s" % (func, n, "%g (%d/11)" % (a["median"], a["successes"]),
                                            "%g (%d/11)" % (b["median"], b["successes"]),
                                            "met" if row["met"] else "NOT MET"))
    print("cells met: %d of %d" % (met, len(cells)))


# ---- per-generation overhead ----

# every stop criterion off: a timing run must not end early
NO_STOP = dict(tolfun=0, tolx=0, tolfunhist=0, tolstagnation=False, tolflatfitness=0, tolupsigma=0,
               tolconditioncov=0, max_iter=10 ** 9)


class BbtGen:
    """bbtoptim, one generation a step: ask, the objective, tell."""

    def __init__(self, variant, n, lam, copy):
        self.es = bbtoptim.CMA(np.full(n, 3.0), 2.0, seed=1, popsize=lam, variant=variant, **NO_STOP)
        self.copy = copy
        self.X = None

    def step(self):
        self.X = self.es.ask(copy=self.copy)
        self.es.tell(self.X, sphere(self.X))

    def objective(self):
        """The step's objective alone, on the last batch (what `blocks` subtracts)."""
        sphere(self.X)


class CmaesGen:
    """python3-cmaes, one generation a step: λ asks, the objective, one tell."""

    def __init__(self, variant, n, lam):
        import cmaes
        cls = cmaes.CMA if variant == "full" else cmaes.SepCMA
        self.opt = cls(mean=np.full(n, 3.0), sigma=2.0, seed=1, population_size=lam)
        self.lam = lam
        self.X = None

    def step(self):
        self.X = [self.opt.ask() for _ in range(self.lam)]
        self.opt.tell([(x, float(np.dot(x, x))) for x in self.X])

    def objective(self):
        [(x, float(np.dot(x, x))) for x in self.X]


def blocks(gen, nblocks, per_block, results, key):
    """Time per_block generations nblocks times; results[key] collects the per-generation ms of each block: the block's
    CPU time less that of per_block runs of the same objective alone. Timing whole blocks keeps the clock out of the
    figure (time.process_time is a system call, ~1.4 µs here: per-call timing added ~3 µs to a 30 µs generation)."""
    for _ in range(nblocks):
        t0 = time.process_time()
        for _ in range(per_block):
            gen.step()
        t1 = time.process_time()
        for _ in range(per_block):
            gen.objective()
        t2 = time.process_time()
        results.setdefault(key, []).append(1e3 * ((t1 - t0) - (t2 - t1)) / per_block)


def breakdown_sep(n, lam, reps):
    """Where a sep generation's time goes from Python (µs): the C work alone (cmaes_ask + cmaes_tell through ctypes and
    nothing else), the binding's ask + tell (one C call each), and the pieces a loop may add. Each measurement on a
    fresh optimizer, told random f values (random selection keeps σ steady over thousands of generations)."""
    import ctypes
    from bbtoptim import _capi
    lib = _capi.lib
    values = np.random.default_rng(1).standard_normal((64, lam))
    k = [0]

    def next_values():
        k[0] = (k[0] + 1) % 64
        return values[k[0]]

    def fresh():
        return bbtoptim.CMA(np.full(n, 3.0), 2.0, seed=1, popsize=lam, variant="sep", **NO_STOP)
    res = {}

    def clock(name, body):
        t0 = time.process_time()
        for _ in range(reps):
            body()
        res[name] = 1e6 * (time.process_time() - t0) / reps

    es = fresh()
    batch, fbuf = _capi.Batch(), (ctypes.c_double * lam)(*values[0])

    def raw_gen():
        lib.cmaes_ask(es._es, ctypes.byref(batch))
        lib.cmaes_tell(es._es, fbuf)
    clock("C alone: cmaes_ask + cmaes_tell (2 ctypes calls)", raw_gen)
    for copy in (True, False):
        es = fresh()

        def py_gen():
            Y = es.ask(copy=copy)
            es.tell(Y, next_values())
        clock("CMA.ask(copy=%s) + CMA.tell(Y, values)" % copy, py_gen)
    es = fresh()
    X = es.ask()
    clock("CMA.stop() (cmaes_get_status: O(n) min/max std)", es.stop)
    clock("next_values() (inside the line above)", next_values)
    clock("numpy copy of the [%d, %d] batch" % (lam, n), X.copy)
    return res


def overhead(args, out):
    import cmaes   # noqa: F401
    n, lam = 500, 20
    print("ms per generation (ask + tell: a block of generations less the same objective computed alone), n = %d, λ = %d, OPENBLAS_NUM_THREADS=%s;" %
          (n, lam, os.environ.get("OPENBLAS_NUM_THREADS", "(default)")))
    print("CPU time (process_time: the machine is shared and loaded, wall time would count other users' work), in "
          "blocks of generations interleaved between the implementations: median and minimum of the block means")
    cbench = os.environ.get("CMAES_BENCH")
    for variant in ("full", "sep"):
        # (cmaes's full variant decomposes C every generation, about a second each at n = 500 here: fewer of them)
        nb, per_b, per_c = (10, args.gens // 10, args.gens // 10) if variant == "sep" else (5, 20, 3)
        gens = {"bbtoptim": BbtGen(variant, n, lam, True), "bbtoptim_view": BbtGen(variant, n, lam, False),
                "cmaes": CmaesGen(variant, n, lam)}
        res = {}
        for _ in range(nb):
            for key, g in gens.items():
                blocks(g, 1, per_c if key == "cmaes" else per_b, res, key)
        row = {"bench": "overhead", "variant": variant, "dim": n, "popsize": lam, "blocks": nb,
               "gens_per_block": {"bbtoptim": per_b, "cmaes": per_c}, "ms": res}
        med = {k: sorted(v)[len(v) // 2] for k, v in res.items()}
        low = {k: min(v) for k, v in res.items()}
        row["median_ms"], row["min_ms"] = med, low
        if cbench and os.path.exists(cbench):
            line = subprocess.run([cbench, "--overhead", "--dim", str(n), "--popsize", str(lam), "--iters",
                                   str(nb * per_b), "--variant", variant], check=True, capture_output=True,
                                  text=True).stdout.strip().splitlines()[-1]
            row["c_only_ms"] = json.loads(line)["ms_per_iter"]
        out.write(json.dumps(row) + "\n")
        out.flush()
        for key in ("bbtoptim", "bbtoptim_view", "cmaes"):
            label = {"bbtoptim": "bbtoptim ask()", "bbtoptim_view": "bbtoptim ask(copy=False)",
                     "cmaes": "cmaes"}[key]
            ratio = "" if key == "cmaes" else "   cmaes/this: %.1fx (median), %.1fx (min)" % (
                med["cmaes"] / med[key], low["cmaes"] / low[key])
            print("%-4s %-26s median %9.3f ms  min %9.3f ms%s" % (variant, label, med[key], low[key], ratio))
        if "c_only_ms" in row:
            print("%-4s %-26s %9.3f ms (build/cmaes-bench --overhead, one run)" % (variant, "C alone", row["c_only_ms"]))
    res = breakdown_sep(n, lam, max(args.gens, 200))
    out.write(json.dumps({"bench": "sep-breakdown", "us": res}) + "\n")
    print("sep generation from Python, µs per call (n = %d, λ = %d):" % (n, lam))
    for k, v in res.items():
        print("  %-52s %8.1f" % (k, v))


# ---- Optuna ----

class Timed:
    """Wraps a sampler and adds up the CPU time spent in it (sampler time per trial)."""

    def __new__(cls, inner):
        import optuna

        class _Timed(optuna.samplers.BaseSampler):
            def __init__(self):
                self.inner, self.spent = inner, 0.0

            def _t(self, name, *a):
                t0 = time.process_time()
                try:
                    return getattr(self.inner, name)(*a)
                finally:
                    self.spent += time.process_time() - t0

            def infer_relative_search_space(self, *a):
                return self._t("infer_relative_search_space", *a)

            def sample_relative(self, *a):
                return self._t("sample_relative", *a)

            def sample_independent(self, *a):
                return self._t("sample_independent", *a)

            def after_trial(self, *a):
                return self._t("after_trial", *a)

            def reseed_rng(self):
                self.inner.reseed_rng()
        return _Timed()


def study_objective(func, n, lo, hi):
    f = FUNCS[func]

    def objective(trial):
        x = np.array([trial.suggest_float("x%d" % i, lo, hi) for i in range(n)])
        return float(f(x[None, :])[0])
    return objective


def optuna_bench(args, out):
    import optuna
    from bbtoptim.optuna import BbtCmaSampler
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    import warnings
    warnings.filterwarnings("ignore")
    a, b = (int(s) for s in args.seeds.split("-"))
    n, lo, hi = 10, -3.0, 7.0        # centre 2 (the samplers' default x0), the optimum inside
    print("Optuna: %d-D %s on [%g, %g]^%d, %d trials, in-memory storage, seeds %s" % (n, args.func, lo, hi, n,
                                                                                   args.trials, args.seeds))
    print("%-16s %4s  %-12s %-12s %s" % ("sampler", "seed", "best value", "trials to 1e-6", "sampler ms/trial"))
    summary = {}
    for name in ("BbtCmaSampler", "CmaEsSampler"):
        for seed in range(a, b + 1):
            inner = BbtCmaSampler(seed=seed) if name == "BbtCmaSampler" else optuna.samplers.CmaEsSampler(seed=seed)
            sampler = Timed(inner)
            study = optuna.create_study(sampler=sampler)
            t0 = time.perf_counter()
            study.optimize(study_objective(args.func, n, lo, hi), n_trials=args.trials)
            wall = time.perf_counter() - t0
            vals = [t.value for t in study.trials]
            first = next((i + 1 for i, v in enumerate(vals) if v < 1e-6), None)
            row = {"bench": "optuna", "sampler": name, "func": args.func, "dim": n, "seed": seed,
                   "trials": args.trials, "best": study.best_value, "trials_to_1e-6": first,
                   "sampler_ms_per_trial": 1e3 * sampler.spent / args.trials, "wall_s": wall}
            summary.setdefault(name, []).append(row)
            out.write(json.dumps(row) + "\n")
            out.flush()
            print("%-16s %4d  %-12.3e %-14s %.2f" % (name, seed, row["best"], first, row["sampler_ms_per_trial"]))
    for name, rows in summary.items():
        best = sorted(r["best"] for r in rows)
        ms = sorted(r["sampler_ms_per_trial"] for r in rows)
        print("%-16s median best %.3e (range %.3e .. %.3e), median sampler time %.2f ms/trial" % (
            name, best[len(best) // 2], best[0], best[-1], ms[len(ms) // 2]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("efficiency", "overhead", "optuna"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--cells", default="all")
    ap.add_argument("--gens", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=2000)
    ap.add_argument("--seeds", default="1-5")
    ap.add_argument("--func", default="rosenbrock")
    args = ap.parse_args()
    with open(args.out, "a") as out:
        {"efficiency": efficiency, "overhead": overhead, "optuna": optuna_bench}[args.what](args, out)


if __name__ == "__main__":
    sys.exit(main())
