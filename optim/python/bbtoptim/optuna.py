"""bbtoptim.optuna — BbtCmaSampler, an Optuna sampler on libbbtoptim's CMA-ES.

    import optuna
    from bbtoptim.optuna import BbtCmaSampler
    study = optuna.create_study(sampler=BbtCmaSampler(seed=1))
    study.optimize(lambda t: sum(t.suggest_float(f"x{i}", -5, 5) ** 2 for i in range(5)), n_trials=1000)

Relative sampling over the float and int parameters that every completed trial has (Optuna's intersection search
space, log and step transformed as CmaEsSampler does); categorical parameters, a changed search space, the startup
trials and a finished run go to the independent sampler (RandomSampler by default).

The optimizer's state lives in the study: each trial records the generation and the row of the batch it evaluates
(system attributes "bbtcma:gen", "bbtcma:row"), and the trial that completes a generation's tell stores the whole
optimizer state (the library's checkpoint, zlib-compressed, base64, in chunks of at most 2045 characters as RDB storage
requires). Any process that opens the study, RDB storage included, continues from the latest state: a killed study
resumes where it was. Under n_jobs, a lock hands each thread of this process a different row of the generation; rows
whose trial failed are handed out again, and extra trials beyond λ evaluate a row still open (the first value wins).
"""

import base64
import logging
import random
import threading
import zlib

import numpy as np

import optuna
from optuna._transform import _SearchSpaceTransform
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.study import StudyDirection
from optuna.trial import TrialState

from ._cma import CMA, FinishedError

_logger = logging.getLogger(__name__)
_CHUNK = 2045          # RDB storage keeps system attribute values below 2046 characters


class BbtCmaSampler(optuna.samplers.BaseSampler):
    """Optuna sampler on libbbtoptim's CMA-ES.

    x0: dict of starting parameter values (default: the centre of the transformed search space); sigma0 (default: a
    sixth of the smallest transformed range, as CmaEsSampler); n_startup_trials (default 1, as CmaEsSampler): trials
    sampled independently before CMA-ES starts; independent_sampler (default RandomSampler(seed)); seed: the
    optimizer's seed (default: drawn once from the system); variant "full" | "sep"; restarts None | "ipop" | "bipop"
    (restarts happen inside the library, with max_restarts, default 9, and incpopsize, default 2); popsize (λ);
    warm_start: a bbtoptim.CMA, bytes from CMA.to_bytes(), or the path of a state saved by CMA.save / cmaes_save; its
    dimension must be that of the search space, and the study continues its run (mean, σ, covariance, generation
    counter); options: further bbtoptim.CMA keywords (tolfun, noise_handling, ...). warn_independent_sampling as
    CmaEsSampler.
    """

    def __init__(self, x0=None, sigma0=None, n_startup_trials=1, independent_sampler=None,
                 warn_independent_sampling=True, seed=None, *, variant="full", restarts=None, popsize=None,
                 warm_start=None, **options):
        self._x0 = x0
        self._sigma0 = sigma0
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler or optuna.samplers.RandomSampler(seed=seed)
        self._warn_independent_sampling = warn_independent_sampling
        self._seed = random.SystemRandom().getrandbits(63) if seed is None else int(seed)
        self._variant = variant
        self._restarts = restarts
        self._popsize = popsize
        self._options = options
        if warm_start is None or isinstance(warm_start, bytes):
            self._warm = warm_start
        elif isinstance(warm_start, CMA):
            self._warm = warm_start.to_bytes()
        else:
            self._warm = CMA.load(warm_start).to_bytes()
        self._search_space = optuna.samplers.IntersectionSearchSpace()
        self._prefix = "bbtcma:"
        self._lock = threading.Lock()
        self._live = {}        # (study, space) -> (state generation, CMA): the optimizer this process restored last
        self._handed = {}      # (study, space, generation) -> rows handed out by this process
        self._finished_logged = False
        self._relative_trials = set()   # trials that got a row of the batch (and not yet finished)

    # ---- the sampler interface ----

    def reseed_rng(self):
        self._independent_sampler.reseed_rng()

    def infer_relative_search_space(self, study, trial):
        space = {}
        for name, dist in self._search_space.calculate(study).items():
            if dist.single() or not isinstance(dist, (FloatDistribution, IntDistribution)):
                continue
            space[name] = dist
        return space

    def sample_relative(self, study, trial, search_space):
        if study._is_multi_objective():
            raise ValueError("BbtCmaSampler: multi-objective studies are not supported")
        if not search_space:
            return {}
        with self._lock:
            return self._sample(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        # warn about a parameter CMA-ES does not cover in a trial it samples (not about startup trials, or the first
        # trials of a parallel study that start before any trial has completed)
        if self._warn_independent_sampling and trial._trial_id in self._relative_trials:
            _logger.warning("BbtCmaSampler: parameter %r of trial %d sampled by %s (categorical or outside the "
                            "common search space)", param_name, trial.number, type(self._independent_sampler).__name__)
        return self._independent_sampler.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study, trial, state, values):
        self._relative_trials.discard(trial._trial_id)
        self._independent_sampler.after_trial(study, trial, state, values)

    # ---- relative sampling ----

    def _sample(self, study, trial, search_space):
        trials = study.get_trials(deepcopy=False)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if len(complete) < self._n_startup_trials:
            return {}
        trans = _SearchSpaceTransform(search_space, transform_log=True, transform_step=True)
        space = "|".join("%s:%r" % (k, search_space[k]) for k in sorted(search_space))
        space_id = "%08x" % zlib.crc32(space.encode())
        key = self._prefix + space_id + ":"
        storage = study._storage

        es, gen = self._restore(study, trials, key, trans)
        if es.dim != len(trans.bounds):
            raise ValueError("BbtCmaSampler: the optimizer has n = %d; the search space has %d dimensions" %
                             (es.dim, len(trans.bounds)))
        # tell the current generation once every row has a completed value
        try:
            X = es.ask(copy=False)
        except FinishedError:
            return self._finished(es)
        values = self._values(complete, key, gen, X.shape[0], study.direction)
        if values is not None:
            es.tell(None, values)
            gen = es.generation
            self._store(storage, trial._trial_id, key, gen, es)
            self._live[(study._study_id, key)] = (gen, es)
            try:
                X = es.ask(copy=False)
            except FinishedError:
                return self._finished(es)
        row = self._pick_row(study, trials, key, gen, X.shape[0])
        storage.set_trial_system_attr(trial._trial_id, key + "gen", gen)
        storage.set_trial_system_attr(trial._trial_id, key + "row", row)
        self._relative_trials.add(trial._trial_id)
        return trans.untransform(np.array(X[row]))

    def _finished(self, es):
        if not self._finished_logged:
            _logger.warning("BbtCmaSampler: the CMA-ES run has finished (%s); further trials are sampled "
                            "independently (restarts='ipop' restarts it instead)", ",".join(es.stop_reasons))
            self._finished_logged = True
        return {}

    def _new_optimizer(self, trans):
        lo, hi = trans.bounds[:, 0], trans.bounds[:, 1]
        if self._warm is not None:
            return CMA.from_bytes(self._warm)
        x0 = trans.transform(self._x0) if self._x0 is not None else lo + (hi - lo) / 2
        sigma0 = self._sigma0 if self._sigma0 is not None else float(np.min(hi - lo) / 6)
        return CMA(x0, max(sigma0, 1e-10), seed=self._seed, variant=self._variant, restarts=self._restarts,
                   popsize=self._popsize, bounds=(lo, hi), **self._options)

    def _restore(self, study, trials, key, trans):
        """The optimizer at the latest stored generation: this process's live one when it is that, else rebuilt from
        the trial that stored it, else a new one (stored on no trial until its first tell: it is reproducible)."""
        best, holder = -1, None
        skey = key + "state_gen"
        for t in trials:
            g = t.system_attrs.get(skey)
            if g is not None and g > best:
                best, holder = g, t
        live = self._live.get((study._study_id, key))
        if live is not None and live[0] == best:
            return live[1], live[1].generation
        if holder is None:
            es = self._new_optimizer(trans)
        else:
            chunks = holder.system_attrs[key + "state_chunks"]
            text = "".join(holder.system_attrs["%sstate:%d" % (key, i)] for i in range(chunks))
            es = CMA.from_bytes(zlib.decompress(base64.b64decode(text)))
        gen = es.generation
        self._live[(study._study_id, key)] = (best if holder is not None else -1, es)
        return es, gen

    def _store(self, storage, trial_id, key, gen, es):
        text = base64.b64encode(zlib.compress(es.to_bytes(), 6)).decode()
        chunks = [text[i:i + _CHUNK] for i in range(0, len(text), _CHUNK)]
        for i, c in enumerate(chunks):
            storage.set_trial_system_attr(trial_id, "%sstate:%d" % (key, i), c)
        storage.set_trial_system_attr(trial_id, key + "state_chunks", len(chunks))
        storage.set_trial_system_attr(trial_id, key + "state_gen", gen)    # last: marks the state complete

    def _values(self, complete, key, gen, count, direction):
        """The f value of each row of generation gen (the lowest-numbered completed trial of each row), or None while a
        row has none."""
        f = [None] * count
        gkey, rkey = key + "gen", key + "row"
        for t in complete:
            if t.system_attrs.get(gkey) == gen:
                r = t.system_attrs.get(rkey)
                if r is not None and 0 <= r < count and f[r] is None:
                    f[r] = t.value
        if any(v is None for v in f):
            return None
        sign = 1.0 if direction == StudyDirection.MINIMIZE else -1.0
        return [sign * v for v in f]

    def _pick_row(self, study, trials, key, gen, count):
        """The lowest row of generation gen that no running or completed trial evaluates, and that this process has not
        handed out; when every row is taken, the lowest row without a completed value (parallel trials beyond λ)."""
        gkey, rkey = key + "gen", key + "row"
        taken, done = set(), set()
        for t in trials:
            if t.system_attrs.get(gkey) == gen:
                if t.state == TrialState.RUNNING:
                    taken.add(t.system_attrs.get(rkey))
                elif t.state == TrialState.COMPLETE:
                    done.add(t.system_attrs.get(rkey))
        handed = self._handed.setdefault((study._study_id, key, gen), set())
        for hk in [k for k in self._handed if k[:2] == (study._study_id, key) and k[2] < gen]:
            del self._handed[hk]
        busy = taken | done | handed
        row = next((r for r in range(count) if r not in busy), None)
        if row is None:
            row = next((r for r in range(count) if r not in done), 0)
        handed.add(row)
        return row


__all__ = ["BbtCmaSampler"]
