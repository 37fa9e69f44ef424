"""test_python.py — the Python binding (optim/python/bbtoptim) against the C library; run by tests/optim/python.sh,
which installs the library and the module into a temporary prefix and sets TRACE (tests/optim/python_trace.c built
against it) and ROSENBROCK (optim/examples/rosenbrock.c built against it).

The Optuna tests are skipped, with a message, when optuna is not installed (python3-optuna).
"""

import ctypes
import math
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest

import numpy as np

import bbtoptim
from bbtoptim import _capi

TRACE = os.environ.get("TRACE")
ROSENBROCK = os.environ.get("ROSENBROCK")

try:
    import optuna
    HAVE_OPTUNA = True
except ImportError:
    HAVE_OPTUNA = False


def run_c(*args, env=None):
    return subprocess.run([TRACE, *args], check=True, capture_output=True, text=True, env=env).stdout


# ---- the Python twin of python_trace.c ----

def weighted_sphere(x):
    s = 0.0
    for i, v in enumerate(x):
        s += (i + 1) * v * v
    return s


def rastrigin(x):
    s = 10.0 * len(x)
    for v in x:
        s += v * v - 10.0 * math.cos(2 * math.pi * v)
    return s


CASES = {
    "full": (dict(x0=[3.0] * 8, sigma0=2, seed=7), 60),
    "sep": (dict(x0=[3.0] * 30, sigma0=2, seed=3, variant="sep"), 60),
    "bounds": (dict(x0=[0.5] * 5, sigma0=1, seed=11, bounds=(-1, 2)), 60),
    "ipop": (dict(x0=[3.0] * 4, sigma0=2, seed=5, restarts="ipop", x0_uniform=(-4, 4), max_fevals=4000), 100000),
    "noise": (dict(x0=[3.0] * 6, sigma0=1, seed=9, noise_handling=True), 60),
    "big": (dict(x0=[3.0] * 100, sigma0=2, seed=13), 25),
}


def bits(v):
    return "%016x" % np.float64(v).view(np.uint64)


def trace_py(case):
    kw, gens = CASES[case]
    kw = dict(kw)
    es = bbtoptim.CMA(kw.pop("x0"), kw.pop("sigma0"), **kw)
    out, k = [], 0
    for g in range(gens):
        if es.stop():
            break
        X = es.ask()
        out.append("generation %d rows %d" % (g, X.shape[0]))
        out.extend(" ".join(row) for row in np.vectorize(lambda v: "%016x" % v)(X.view(np.uint64)))
        f = []
        for x in X.tolist():
            v = rastrigin(x) if case == "ipop" else weighted_sphere(x)
            if case == "noise":
                v *= 1 + 0.3 * math.sin(float(k))
            f.append(v)
            k += 1
        es.tell(X, f)
    r = es.result
    out.append("end evaluations %d iterations %d restarts %d stop %s best %s sigma %s" % (
        r.evaluations, r.iterations, r.restarts, ",".join(r.stop_reasons), bits(r.f), bits(es.sigma)))
    return "\n".join(out) + "\n"


def sphere_rows(X):
    return (X ** 2).sum(axis=1)


class Binding(unittest.TestCase):
    def test_layout_matches_c(self):
        """every field of the three structs at the C compiler's offset and size"""
        structs = {"cmaes_options": _capi.Options, "cmaes_batch": _capi.Batch, "cmaes_status": _capi.Status}
        lines = run_c("--layout").split()
        it = iter(run_c("--layout").splitlines())
        seen = 0
        for line in it:
            parts = line.split()
            if len(parts) == 2:
                self.assertEqual(ctypes.sizeof(structs[parts[0]]), int(parts[1]), parts[0])
            else:
                sname, field = parts[0].split(".")
                cls = structs[sname]
                desc = getattr(cls, "lambda_" if field == "lambda" else field)
                self.assertEqual((desc.offset, desc.size), (int(parts[1]), int(parts[2])), parts[0])
                seen += 1
        self.assertEqual(seen, sum(len(s._fields_) for s in structs.values()))
        self.assertTrue(lines)

    def test_candidates_bit_identical_to_c(self):
        """same options and seed: the same candidates, bit for bit, every generation (full, sep, bounds, IPOP
        restarts, noise handling, n = 100)"""
        for case in CASES:
            with self.subTest(case=case):
                self.assertEqual(trace_py(case), run_c(case))

    def test_blas_thread_count(self):
        """what optim/cmaes.h promises about OpenBLAS threads: the separable variant (no BLAS) gives the same bits
        for any thread count; the full variant the same bits for any count above 1; and the binding equals the C
        library under OPENBLAS_NUM_THREADS=1 too (a single-threaded OpenBLAS takes other kernels: other bits)"""
        def env(t):
            return dict(os.environ, OPENBLAS_NUM_THREADS=str(t))
        self.assertEqual(run_c("sep", env=env(1)), run_c("sep", env=env(3)))
        self.assertEqual(run_c("big", env=env(2)), run_c("big", env=env(4)))
        code = "import sys; sys.path.insert(0, %r); import test_python; print(test_python.trace_py('full'), end='')" \
            % os.path.dirname(os.path.abspath(__file__))
        py1 = subprocess.run([sys.executable, "-c", code], env=env(1), check=True, capture_output=True,
                             text=True).stdout
        self.assertEqual(py1, run_c("full", env=env(1)))

    def test_round_trip_equals_c_example(self):
        """optim/examples/rosenbrock.c and its Python transcription print the same text"""
        want = subprocess.run([ROSENBROCK], capture_output=True, text=True).stdout
        es = bbtoptim.CMA(np.zeros(10), 0.5, seed=42, ftarget=1e-8)

        def rosen(x):
            s = 0.0
            for i in range(len(x) - 1):
                a, b = x[i] * x[i] - x[i + 1], x[i] - 1
                s += 100 * a * a + b * b
            return s
        while not es.stop():
            X = es.ask()
            es.tell(X, [rosen(x) for x in X.tolist()])
        r = es.result
        got = "best f = %.3e after %d evaluations (%d generations), stop: %s\n" % (
            r.f, r.evaluations, r.iterations, ",".join(r.stop_reasons))
        got += "x = [" + ", ".join("%.6f" % v for v in r.x) + "]\n"
        self.assertEqual(got, want)

    def run_gens(self, es, gens):
        out = []
        for _ in range(gens):
            X = es.ask()
            out.append(X)
            es.tell(X, sphere_rows(X))
        return np.concatenate(out)

    def test_save_load_mid_run_equals_uninterrupted(self):
        for variant in ("full", "sep"):
            with self.subTest(variant=variant):
                kw = dict(seed=21, variant=variant, restarts="ipop", noise_handling=True)
                whole = self.run_gens(bbtoptim.CMA([1.0] * 12, 0.7, **kw), 40)
                es = bbtoptim.CMA([1.0] * 12, 0.7, **kw)
                first = self.run_gens(es, 17)
                es.ask()                                   # a pending batch is part of the state too
                with tempfile.TemporaryDirectory() as d:
                    path = os.path.join(d, "state.cmaes")
                    es.save(path)
                    es.close()
                    loaded = bbtoptim.CMA.load(path)
                rest = self.run_gens(loaded, 23)
                self.assertTrue(np.array_equal(np.concatenate([first, rest]), whole))
                again = pickle.loads(pickle.dumps(loaded))            # to_bytes/from_bytes round trip
                self.assertTrue(np.array_equal(self.run_gens(again, 3), self.run_gens(loaded, 3)))

    def test_bad_arguments_raise_with_library_message(self):
        with self.assertRaises(bbtoptim.OptionError) as e:
            bbtoptim.CMA([], 1.0)
        self.assertEqual(str(e.exception), "dim = 0: must be >= 1")
        with self.assertRaises(bbtoptim.OptionError) as e:
            bbtoptim.CMA([1.0, float("nan")], 1.0)
        self.assertEqual(str(e.exception), "x0[1] = nan: must be finite")
        with self.assertRaises(bbtoptim.OptionError) as e:
            bbtoptim.CMA([1.0] * 3, 1.0, popsize=1)
        self.assertIn("popsize = 1: must be >= 2", str(e.exception))
        with self.assertRaises(ValueError) as e:                     # OptionError is a ValueError too
            bbtoptim.CMA([1.0] * 3, -2.0)
        self.assertIn("sigma0 = -2: must be > 0", str(e.exception))
        with self.assertRaises(bbtoptim.OptionError):
            bbtoptim.CMA([1.0] * 3, 1.0, variant="diagonal")
        with self.assertRaises(TypeError):
            bbtoptim.CMA([1.0] * 3, 1.0, sigma=2)
        es = bbtoptim.CMA([1.0] * 3, 1.0, seed=1)
        with self.assertRaises(bbtoptim.StateError) as e:            # tell before ask: the library's own words
            es.tell(None, [1.0] * 7)
        self.assertEqual(str(e.exception), "cmaes_tell: no batch pending (call cmaes_ask first)")
        X = es.ask()
        for bad in ([1.0, 2.0], np.ones((X.shape[0], 2)), np.ones(X.shape[0] + 1)):
            with self.assertRaises(bbtoptim.ArgumentError) as e:
                es.tell(X, bad)
            self.assertIn("tell: values has shape", str(e.exception))
        with self.assertRaises(bbtoptim.ArgumentError) as e:
            es.tell(np.ones((X.shape[0], 4)), sphere_rows(X))
        self.assertIn("tell: solutions have shape", str(e.exception))
        with self.assertRaises(bbtoptim.ArgumentError) as e:
            es.tell(X + 1, sphere_rows(X))
        self.assertIn("is not a candidate of the last ask", str(e.exception))
        with self.assertRaises(bbtoptim.ArgumentError) as e:
            es.tell([0] * X.shape[0], sphere_rows(X))
        self.assertIn("indices must name each", str(e.exception))
        with self.assertRaises(bbtoptim.ArgumentError) as e:
            es.inject([float("inf"), 0, 0])
        self.assertEqual(str(e.exception), "cmaes_inject: x[0] = inf is not finite")
        es.stop_now()
        self.assertEqual(es.stop_reasons, ("user",))
        with self.assertRaises(bbtoptim.FinishedError) as e:
            es.ask()
        self.assertEqual(str(e.exception), "cmaes_ask: the optimization has finished")
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"not a state at all")
            f.flush()
            with self.assertRaises(bbtoptim.FormatError):
                bbtoptim.CMA.load(f.name)
        with self.assertRaises(bbtoptim.FileError) as e:
            bbtoptim.CMA.load("/nonexistent/state")
        self.assertIn("/nonexistent/state", str(e.exception))

    def test_tell_forms_agree(self):
        """row order, the asked array, row indices and permuted rows give the same run"""
        def run(form):
            es = bbtoptim.CMA([2.0] * 6, 1.0, seed=4)
            rng = np.random.default_rng(0)
            for _ in range(15):
                X = es.ask()
                f = sphere_rows(X)
                p = rng.permutation(X.shape[0])
                if form == "none":
                    es.tell(None, f)
                elif form == "asked":
                    es.tell(X, f)
                elif form == "indices":
                    es.tell(p, f[p])
                else:
                    es.tell(X[p], f[p])
            return es.result
        base = run("none")
        for form in ("asked", "indices", "rows"):
            r = run(form)
            self.assertEqual((r.f, r.evaluations), (base.f, base.evaluations), form)
            self.assertTrue(np.array_equal(r.x, base.x), form)

    def test_view_and_copy(self):
        es = bbtoptim.CMA([1.0] * 5, 1.0, seed=2)
        v = es.ask(copy=False)
        c = es.ask()
        self.assertFalse(v.flags.writeable)
        self.assertTrue(c.flags.writeable)
        self.assertTrue(np.array_equal(v, c))
        es.tell(v, sphere_rows(c))
        c2 = es.ask()
        self.assertFalse(np.array_equal(c, c2))

    def test_inject_and_status(self):
        es = bbtoptim.CMA([1.0] * 4, 1.0, seed=3, bounds=([-2] * 4, [2] * 4))
        es.inject([0.0, 0.0, 0.0, 0.0])
        X = es.ask()
        self.assertTrue(any(np.array_equal(x, np.zeros(4)) for x in X))
        es.tell(X, sphere_rows(X))
        self.assertEqual(es.result.f, 0.0)
        st = es.status
        self.assertEqual(st["dim"], 4)
        self.assertEqual(st["evaluations"], X.shape[0])
        self.assertEqual(es.stds().shape, (4,))

    def test_threads_one_optimizer_each(self):
        """optimizers in threads (the C calls release the GIL) give the runs they give alone"""
        def run(seed):
            es = bbtoptim.CMA([3.0] * 20, 2.0, seed=seed, variant="sep")
            for _ in range(60):
                X = es.ask()
                es.tell(X, sphere_rows(X))
            return es.result.f
        alone = [run(s) for s in range(4)]
        together = [None] * 4

        def worker(s):
            together[s] = run(s)
        threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(alone, together)


@unittest.skipUnless(HAVE_OPTUNA, "optuna is not installed (python3-optuna)")
class Sampler(unittest.TestCase):
    def setUp(self):
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def test_sphere_5d_to_1e6_within_1000_trials(self):
        from bbtoptim.optuna import BbtCmaSampler
        study = optuna.create_study(sampler=BbtCmaSampler(seed=3))
        study.optimize(lambda t: sum(t.suggest_float("x%d" % i, -3, 7) ** 2 for i in range(5)), n_trials=1000,
                       callbacks=[lambda s, t: s.stop() if s.best_value < 1e-6 else None])
        self.assertLess(study.best_value, 1e-6)
        self.assertLessEqual(len(study.trials), 1000)

    def test_study_asks_what_the_library_asks(self):
        """after the random first trial, a sequential study evaluates exactly the rows of a plain CMA run with the
        same seed, start (the centre) and σ0 (a sixth of the range), generation after generation"""
        from bbtoptim.optuna import BbtCmaSampler
        study = optuna.create_study(sampler=BbtCmaSampler(seed=7))
        study.optimize(lambda t: sum((i + 1) * t.suggest_float("x%d" % i, -3, 7) ** 2 for i in range(4)),
                       n_trials=61)
        got = np.array([[t.params["x%d" % i] for i in range(4)] for t in study.trials[1:]])
        es = bbtoptim.CMA(np.full(4, 2.0), 10 / 6, seed=7, bounds=(-3, 7))
        rows = []
        while len(rows) < len(got):
            X = es.ask()
            rows.extend(X)
            es.tell(X, [weighted_sphere(x) for x in X.tolist()])
        self.assertTrue(np.array_equal(got, np.array(rows[:len(got)])))

    def test_mixed_space_parallel_and_maximize(self):
        """ints and log floats relatively, a categorical independently, 4 threads, a maximised objective"""
        from bbtoptim.optuna import BbtCmaSampler

        def objective(t):
            a = t.suggest_float("a", 1e-3, 1e3, log=True)
            b = t.suggest_int("b", -20, 20)
            c = t.suggest_float("c", -5, 5)
            k = t.suggest_categorical("k", ["p", "q"])
            return -((math.log10(a) - 1) ** 2 + (b - 7) ** 2 + c * c) + (0.5 if k == "q" else 0)
        study = optuna.create_study(direction="maximize",
                                    sampler=BbtCmaSampler(seed=5, warn_independent_sampling=False))
        study.optimize(objective, n_trials=300, n_jobs=4)
        self.assertEqual(study.best_params["b"], 7)
        self.assertGreater(study.best_value, -0.05)
        gens = [t.system_attrs for t in study.trials if any(k.endswith(":gen") for k in t.system_attrs)]
        self.assertGreater(len(gens), 250)

    def test_sep_ipop_and_warm_start(self):
        from bbtoptim.optuna import BbtCmaSampler
        space = lambda t: [t.suggest_float("x%d" % i, -5, 5) for i in range(4)]   # noqa: E731
        es = bbtoptim.CMA([1.0] * 4, 0.1, seed=8)                  # a run already near the optimum at 1
        for _ in range(30):
            X = es.ask()
            es.tell(X, ((X - 1) ** 2).sum(axis=1))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "warm.cmaes")
            es.save(path)
            study = optuna.create_study(sampler=BbtCmaSampler(warm_start=path, n_startup_trials=0))
            study.optimize(lambda t: sum((x - 1) ** 2 for x in space(t)), n_trials=60)
        self.assertLess(study.best_value, 1e-3)                    # a cold start from 0 with σ0 = 10/6 is far off
        study = optuna.create_study(sampler=BbtCmaSampler(seed=2, variant="sep", restarts="ipop", popsize=6))
        study.optimize(lambda t: sum(x * x for x in space(t)), n_trials=200)
        self.assertLess(study.best_value, 1e-2)

    def test_killed_sqlite_study_resumes(self):
        """a study on SQLite killed (SIGKILL) mid-generation continues from its stored CMA-ES state in a new process"""
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None       # SQLite's fsyncs on a disk cost seconds
        with tempfile.TemporaryDirectory(dir=shm) as d:
            url = "sqlite:///" + os.path.join(d, "study.db")
            script = textwrap.dedent("""
                import os, signal, sys, optuna
                from bbtoptim.optuna import BbtCmaSampler
                optuna.logging.set_verbosity(optuna.logging.WARNING)
                url, kill_at, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
                study = optuna.create_study(study_name="s", storage=url, load_if_exists=True,
                                            sampler=BbtCmaSampler(seed=11))
                def objective(t):
                    if t.number == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)     # dies with trial kill_at RUNNING
                    return sum((t.suggest_float("x%d" % i, -4, 6) - 0.5) ** 2 for i in range(4))
                study.optimize(objective, n_trials=n)
            """)
            p = subprocess.run([sys.executable, "-c", script, url, "21", "1000"])
            self.assertEqual(p.returncode, -signal.SIGKILL)
            before = optuna.load_study(study_name="s", storage=url).trials
            self.assertEqual(len(before), 22)
            self.assertEqual(before[-1].state, optuna.trial.TrialState.RUNNING)
            gen_key = [k for k in before[-2].system_attrs if k.endswith(":gen")][0]
            gens_before = [t.system_attrs[gen_key] for t in before if gen_key in t.system_attrs]
            p = subprocess.run([sys.executable, "-c", script, url, "-1", "38"])
            self.assertEqual(p.returncode, 0)
            study = optuna.load_study(study_name="s", storage=url)
            after = study.trials[22:]
            self.assertEqual(len(after), 38)
            gens = [t.system_attrs.get(gen_key) for t in after]
            # the first resumed trial evaluates a row of the generation the kill interrupted, and the run goes on
            self.assertEqual(gens[0], gens_before[-1])
            self.assertGreater(max(gens), gens_before[-1] + 2)
            # one uninterrupted process with the same seed and objective asks the same candidates
            url2 = "sqlite:///" + os.path.join(d, "whole.db")
            subprocess.run([sys.executable, "-c", script, url2, "-1", "21"], check=True)
            whole = optuna.load_study(study_name="s", storage=url2).trials
            # (trial 21 died; its row is evaluated again later, so compare the trials up to the kill)
            for a, b in zip(before[:21], whole):
                self.assertEqual(a.params, b.params)
            self.assertLess(study.best_value, min(t.value for t in before[:21]))


if __name__ == "__main__":
    t0 = time.time()
    result = unittest.main(exit=False, verbosity=2).result
    skipped = len(result.skipped)
    failed = len(result.failures) + len(result.errors)
    print("python: %d passed, %d failed, %d skipped (%.1f s)" % (result.testsRun - failed - skipped, failed,
                                                                   skipped, time.time() - t0))
    for why in sorted({why for _, why in result.skipped}):
        print("skipped: " + why)
    sys.exit(1 if failed else 0)
