"""_cma.py — CMA, the ask/tell optimizer of libbbtoptim from Python, and the exceptions its errors become."""

import collections
import ctypes
import math
import threading

import numpy as np

from . import _capi
from ._capi import lib

# ---- errors: one class per cmaes_error code, each carrying the library's message ----


class Error(Exception):
    """An error of libbbtoptim: .code is the cmaes_error value, .kind its name (cmaes_strerror), str() the message."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.kind = lib.cmaes_strerror(code).decode()


class OptionError(Error, ValueError):
    """CMAES_ERR_OPTION: an option is out of range."""


class ArgumentError(Error, ValueError):
    """CMAES_ERR_ARG: a bad argument (wrong length, non-finite x, full injection queue)."""


class StateError(Error, RuntimeError):
    """CMAES_ERR_STATE: a call out of order (tell without ask)."""


class FinishedError(StateError):
    """CMAES_ERR_FINISHED: the optimization has ended (see CMA.stop_reasons)."""


class NoMemoryError(Error, MemoryError):
    """CMAES_ERR_NOMEM."""


class FileError(Error, OSError):
    """CMAES_ERR_IO: reading or writing a state file failed."""


class FormatError(Error, ValueError):
    """CMAES_ERR_FORMAT: not a cmaes state, or a version this library does not read."""


class CorruptError(FormatError):
    """CMAES_ERR_CORRUPT: a state whose checksum or contents do not check out."""


class NumericError(Error, ArithmeticError):
    """CMAES_ERR_NUMERIC: the eigendecomposition failed beyond repair."""


_ERRORS = {
    _capi.ERR_OPTION: OptionError, _capi.ERR_ARG: ArgumentError, _capi.ERR_STATE: StateError,
    _capi.ERR_FINISHED: FinishedError, _capi.ERR_NOMEM: NoMemoryError, _capi.ERR_IO: FileError,
    _capi.ERR_FORMAT: FormatError, _capi.ERR_CORRUPT: CorruptError, _capi.ERR_NUMERIC: NumericError,
}


def _error(code, message):
    message = message or lib.cmaes_strerror(code).decode()
    return _ERRORS.get(code, Error)(code, message)


Result = collections.namedtuple("Result", "x f evaluations best_evaluation iterations restarts stop_reasons")
Result.__doc__ = """The best solution so far: x (a copy; None before the first tell), its f, the evaluations told (all
rows, all runs), the evaluation at which x was told, generations, restarts done, and the stop reasons of the run that
ended last."""

# keyword -> (field, conversion) for the options that map one to one onto cmaes_options
_PLAIN = {
    "popsize": int, "mu": int, "max_restarts": int, "incpopsize": float, "eigen_gap_factor": float,
    "noise_reevals": float, "noise_epsilon": float, "noise_max_evals": float, "noise_alpha_sigma": float,
    "noise_alpha_evals": float, "ftarget": float, "max_fevals": int, "max_iter": int, "tolfun": float,
    "tolfunhist": float, "tolx": float, "tolupsigma": float, "tolconditioncov": float, "tolflatfitness": int,
    "tolnonfinite": int, "active": lambda v: 1 if v else 0, "tolstagnation": lambda v: 1 if v else 0,
}
_CHOICES = {"variant": _capi.VARIANTS, "restarts": _capi.RESTARTS, "step_rule": _capi.STEP_RULES,
            "sampling": _capi.SAMPLINGS}


def _vector(name, v, n=None):
    a = np.asarray(v, dtype=np.float64)
    if n is not None and a.ndim == 0:
        a = np.full(n, float(a))
    if a.ndim != 1 or (n is not None and a.shape[0] != n):
        want = "a vector" if n is None else "a scalar or a vector of %d values" % n
        raise ArgumentError(_capi.ERR_ARG, "%s: must be %s (got shape %s)" % (name, want, a.shape))
    return np.ascontiguousarray(a)


def _choice(name, value, table):
    key = value.lower() if isinstance(value, str) else value
    if key not in table:
        names = ", ".join(repr(k) for k in table if k is not None)
        raise OptionError(_capi.ERR_OPTION, "%s = %r: must be one of %s" % (name, value, names))
    return table[key]


class CMA:
    """CMA-ES with an ask/tell interface over libbbtoptim (optim/cmaes.h documents every option and its default).

        es = CMA(x0, sigma0, seed=1)
        while not es.stop():
            X = es.ask()                          # ndarray [count, n]: row i is a candidate
            es.tell(X, [f(x) for x in X])
        print(es.result.x, es.result.f)

    x0 fixes n (a sequence of n finite values); sigma0 > 0. Keywords: popsize (λ), seed (0..2^64-1; the seed alone fixes
    the run, 0 included), variant "full" | "sep", bounds (lower, upper), each a scalar or n values, None or ±inf for an
    open side), restarts None | "ipop" | "bipop" (with max_restarts, incpopsize), noise_handling (UH-CMA, with
    noise_reevals, noise_epsilon, noise_max_evals, noise_alpha_sigma, noise_alpha_evals), mu, active, step_rule "auto" |
    "csa" | "tpa", sampling "auto" | "iid" | "orthogonal" | "mirrored", eigen_gap_factor, sigma0_scale (n factors),
    x0_uniform (lo, hi): draw the mean of each run uniformly, ftarget, max_fevals, max_iter, tolfun, tolfunhist, tolx,
    tolupsigma, tolconditioncov, tolstagnation, tolflatfitness, tolnonfinite. None (or absent) keeps the library's
    default. Errors of the library are raised as bbtoptim.Error subclasses with its message (OptionError for an option
    out of range, ...).

    One CMA may be shared between threads (a lock serialises its calls; the C calls release the GIL, so distinct
    optimizers run in parallel). Pickling goes through the library's checkpoint format (to_bytes/from_bytes).
    """

    def __init__(self, x0, sigma0=1.0, *, popsize=None, seed=0, variant="full", bounds=None, restarts=None,
                 noise_handling=False, **options):
        self._init_fields()
        o = _capi.Options()
        lib.cmaes_options_init(ctypes.byref(o))
        x0 = _vector("x0", x0)
        n = x0.shape[0]
        o.dim = n
        keep = [x0]                      # arrays the options point into, alive until cmaes_create has copied them
        o.x0 = x0.ctypes.data
        o.sigma0 = float(sigma0)
        if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 1 << 64:
            raise OptionError(_capi.ERR_OPTION, "seed = %r: must be an integer in [0, 2^64)" % (seed,))
        o.seed = int(seed)
        o.variant = _choice("variant", variant, _capi.VARIANTS)
        o.restarts = _choice("restarts", restarts, _capi.RESTARTS)
        o.noise_handling = 1 if noise_handling else 0
        if popsize is not None:
            o.popsize = int(popsize)
        if bounds is not None:
            try:
                lo, hi = bounds
            except (TypeError, ValueError):
                raise ArgumentError(_capi.ERR_ARG, "bounds: must be a pair (lower, upper)") from None
            lo = _vector("bounds lower", -math.inf if lo is None else lo, n)
            hi = _vector("bounds upper", math.inf if hi is None else hi, n)
            keep += [lo, hi]
            o.lower, o.upper = lo.ctypes.data, hi.ctypes.data
        for key, value in options.items():
            if value is None:
                continue
            if key in _PLAIN:
                setattr(o, key, _PLAIN[key](value))
            elif key in _CHOICES:
                setattr(o, key, _choice(key, value, _CHOICES[key]))
            elif key == "sigma0_scale":
                s = _vector("sigma0_scale", value, n)
                keep.append(s)
                o.sigma0_scale = s.ctypes.data
            elif key == "x0_uniform":
                o.x0_uniform_lo, o.x0_uniform_hi = (float(v) for v in value)
            else:
                raise TypeError("CMA() got an unexpected keyword argument %r" % key)
        handle = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_capi.ERRMSG_MAX)
        rc = lib.cmaes_create(ctypes.byref(handle), ctypes.byref(o), err, _capi.ERRMSG_MAX)
        del keep
        if rc != _capi.OK:
            raise _error(rc, err.value.decode())
        self._adopt(handle)

    # ---- construction helpers ----

    def _init_fields(self):
        self._es = None
        self._lock = threading.RLock()
        self._batch = _capi.Batch()
        self._batch_ref = ctypes.byref(self._batch)
        self._st = _capi.Status()
        self._st_ref = ctypes.byref(self._st)
        self._view = None                # read-only ndarray over the batch rows in C memory, reused while they stay put
        self._view_key = None
        self._asked = None               # the array the last ask returned (tell recognises it and skips matching)
        self._fcap = 0                   # f buffer handed to cmaes_tell: one C buffer, grown when a batch is larger
        self._fbuf = None
        self._fptr = None

    def _adopt(self, handle):
        self._es = handle
        lib.cmaes_get_status(handle, self._st_ref)
        self.dim = self._st.dim

    @classmethod
    def _wrap(cls, handle):
        self = cls.__new__(cls)
        self._init_fields()
        self._adopt(handle)
        return self

    def _fail(self, rc):
        return _error(rc, lib.cmaes_errmsg(self._es).decode())

    def _handle(self):
        if self._es is None:
            raise StateError(_capi.ERR_STATE, "CMA: the optimizer was closed")
        return self._es

    # ---- ask / tell ----

    def ask(self, copy=True):
        """The candidates of the current generation as an ndarray [count, n] (row i is candidate i; count is λ, or more
        with noise handling, where repeated and re-evaluation rows follow). Asking again before tell returns the same
        rows. copy=True (default): a fresh writable array the caller owns. copy=False: a read-only view of the
        optimizer's own memory, no copy made; it is valid only until the next tell, load or close (after that it shows
        other numbers, or freed memory). Raises FinishedError once the optimization has ended."""
        with self._lock:
            rc = lib.cmaes_ask(self._handle(), self._batch_ref)
            if rc:
                raise self._fail(rc)
            b = self._batch
            key = (b.x, b.count, b.dim)
            if key != self._view_key:
                buf = (ctypes.c_double * (b.count * b.dim)).from_address(b.x)
                view = np.frombuffer(buf, dtype=np.float64).reshape(b.count, b.dim)
                view.flags.writeable = False
                self._view, self._view_key = view, key
            out = self._view.copy() if copy else self._view
            self._asked = out
            return out

    def tell(self, solutions_or_indices, values):
        """Hand back the f values of the last ask's rows. solutions_or_indices says which value is whose: None or the
        array ask returned (values in row order; no matching cost), a sequence of row indices (values[k] belongs to
        row indices[k]; each row exactly once), or the candidate rows themselves in any order (matched exactly against
        the batch). values: one number per row (NaN and ±inf rank last). Shape errors raise ArgumentError."""
        with self._lock:
            es = self._handle()
            asked = self._asked
            if asked is None:            # no batch pending: the library says so in its own words
                self._ensure_fbuf(1)
                raise self._fail(lib.cmaes_tell(es, self._fptr))
            count = self._batch.count
            v = np.asarray(values, dtype=np.float64)
            if v.ndim != 1 or v.shape[0] != count:
                raise ArgumentError(_capi.ERR_ARG, "tell: values has shape %s; the batch asked has %d rows (one value "
                                    "per row)" % (v.shape, count))
            self._ensure_fbuf(count)
            order = self._order(solutions_or_indices, asked, count)
            if order is None:
                self._fbuf[:count] = v
            else:
                self._fbuf[order] = v
            rc = lib.cmaes_tell(es, self._fptr)
            if rc:
                raise self._fail(rc)
            self._asked = None

    def _ensure_fbuf(self, count):
        if count > self._fcap:
            cbuf = (ctypes.c_double * count)()
            self._fbuf = np.frombuffer(cbuf, dtype=np.float64)
            self._fptr = ctypes.addressof(cbuf)
            self._fcap = count

    def _order(self, which, asked, count):
        """None when the values are in row order, else the row index of each value."""
        if which is None or which is asked or which is self._view:
            return None
        a = np.asarray(which)
        if a.ndim == 1 and a.dtype.kind in "iu":
            if a.shape[0] != count or not np.array_equal(np.sort(a), np.arange(count)):
                raise ArgumentError(_capi.ERR_ARG, "tell: indices must name each of the %d rows of the batch once "
                                    "(got %d indices)" % (count, a.shape[0]))
            return a
        rows = self._view
        if a.ndim != 2 or a.shape != rows.shape:
            raise ArgumentError(_capi.ERR_ARG, "tell: solutions have shape %s; the batch asked is %s (or pass row "
                                "indices)" % (a.shape, rows.shape))
        a = np.ascontiguousarray(a, dtype=np.float64)
        if np.array_equal(a, rows):
            return None
        where = collections.defaultdict(collections.deque)
        for i in range(count):
            where[rows[i].tobytes()].append(i)
        order = np.empty(count, dtype=np.intp)
        for k in range(count):
            slots = where.get(a[k].tobytes())
            if not slots:
                raise ArgumentError(_capi.ERR_ARG, "tell: solutions[%d] is not a candidate of the last ask (or is "
                                    "given twice)" % k)
            order[k] = slots.popleft()
        return order

    def inject(self, x):
        """Queue a known solution (n values, inside the bounds): the next generation evaluates it as one of its
        candidates (cmaes_inject)."""
        x = _vector("inject: x", x)
        with self._lock:
            es = self._handle()
            if x.shape[0] != self.dim:
                raise ArgumentError(_capi.ERR_ARG, "inject: x has %d values; the problem has n = %d" %
                                    (x.shape[0], self.dim))
            rc = lib.cmaes_inject(es, x.ctypes.data)
            if rc:
                raise self._fail(rc)

    # ---- termination and status ----

    def _status(self):
        lib.cmaes_get_status(self._handle(), self._st_ref)
        return self._st

    def stop(self):
        """True once the optimization has ended (no more generations); stop_reasons says why."""
        with self._lock:
            return bool(self._status().finished)

    def stop_now(self):
        """End the optimization now (stop reason "user"); the state stays readable and saveable."""
        with self._lock:
            lib.cmaes_stop_now(self._handle())
            self._asked = None

    @staticmethod
    def _names(bits):
        return tuple(name for b, name in enumerate(_capi.STOP_NAMES) if bits >> b & 1)

    @property
    def stop_reasons(self):
        """Names of the stop criteria that ended the last run ("tolfun", "ftarget", ...); () while the first runs."""
        with self._lock:
            return self._names(self._status().stop)

    def _copy(self, ptr, n):
        return None if not ptr else np.array((ctypes.c_double * n).from_address(ptr))

    @property
    def result(self):
        """Result(x, f, evaluations, best_evaluation, iterations, restarts, stop_reasons)."""
        with self._lock:
            st = self._status()
            return Result(self._copy(st.best_x, st.dim), st.best_f, st.evaluations, st.best_evaluation,
                          st.iteration, st.restarts, self._names(st.stop))

    @property
    def status(self):
        """Everything cmaes_get_status reports, as a dict (mean and best_x as copies)."""
        with self._lock:
            st = self._status()
            d = {name: getattr(st, name) for name, _ in _capi.Status._fields_}
            d["lambda"] = d.pop("lambda_")
            d["mean"] = self._copy(st.mean, st.dim)
            d["best_x"] = self._copy(st.best_x, st.dim)
            d["stop_reasons"] = self._names(st.stop)
            d["restart_reasons"] = self._names(st.restart_reason)
            return d

    @property
    def mean(self):
        with self._lock:
            st = self._status()
            return self._copy(st.mean, st.dim)

    @property
    def sigma(self):
        with self._lock:
            return self._status().sigma

    @property
    def popsize(self):
        """λ of the next generation."""
        with self._lock:
            return self._status().lambda_

    @property
    def generation(self):
        """Generations told, all runs."""
        with self._lock:
            return self._status().iteration

    @property
    def evaluations(self):
        with self._lock:
            return self._status().evaluations

    def stds(self):
        """σ·sqrt(C_ii), n values."""
        with self._lock:
            out = np.empty(self.dim)
            lib.cmaes_stds(self._handle(), out.ctypes.data)
            return out

    # ---- checkpoints ----

    def to_bytes(self):
        """The complete state in the library's checkpoint format (magic, version, CRC-32)."""
        with self._lock:
            ptr, size = ctypes.c_void_p(), ctypes.c_size_t()
            rc = lib.cmaes_serialize(self._handle(), ctypes.byref(ptr), ctypes.byref(size))
            if rc:
                raise self._fail(rc)
            try:
                return ctypes.string_at(ptr.value, size.value)
            finally:
                _capi.free(ptr)

    @classmethod
    def from_bytes(cls, data):
        """An optimizer rebuilt from to_bytes() output; it continues bit for bit."""
        data = bytes(data)
        handle = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_capi.ERRMSG_MAX)
        rc = lib.cmaes_deserialize(ctypes.byref(handle), data, len(data), err, _capi.ERRMSG_MAX)
        if rc:
            raise _error(rc, err.value.decode())
        return cls._wrap(handle)

    def save(self, path):
        """Write the state to path atomically (cmaes_save: temporary file, fsync, rename)."""
        with self._lock:
            rc = lib.cmaes_save(self._handle(), str(path).encode())
            if rc:
                raise self._fail(rc)

    @classmethod
    def load(cls, path):
        """An optimizer read from a file written by save() (or by cmaes_save in C)."""
        handle = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_capi.ERRMSG_MAX)
        rc = lib.cmaes_load(ctypes.byref(handle), str(path).encode(), err, _capi.ERRMSG_MAX)
        if rc:
            raise _error(rc, err.value.decode())
        return cls._wrap(handle)

    def __reduce__(self):
        return (CMA.from_bytes, (self.to_bytes(),))

    # ---- lifetime ----

    def close(self):
        """Free the C optimizer now (also done when the object is collected); views from ask(copy=False) die too."""
        with self._lock:
            if self._es is not None:
                lib.cmaes_free(self._es)
                self._es = None
                self._view = self._view_key = self._asked = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_es", None) is not None:
            lib.cmaes_free(self._es)
            self._es = None

    def __repr__(self):
        if self._es is None:
            return "<bbtoptim.CMA closed>"
        st = self._status()
        return "<bbtoptim.CMA n=%d λ=%d %s generation=%d evaluations=%d best_f=%g>" % (
            st.dim, st.lambda_, "sep" if st.variant else "full", st.iteration, st.evaluations, st.best_f)
