"""_capi.py — the C API of libbbtoptim as ctypes declarations: the library, its three structs and its functions.

ctypes rather than a C extension: the module is pure Python, so nothing is compiled for it, it needs no python3-dev,
and one installed copy works with every Python 3 that can load the shared library. The price is a few microseconds per
call, which the binding keeps out of the hot path by making exactly one C call per ask and one per tell.

The structs mirror optim/cmaes.h field by field; tests/optim/python.sh compares their sizes and offsets with the C
compiler's (tests/optim/python_trace.c --layout), so a field added in C without its twin here fails the tests.
"""

import ctypes
import ctypes.util
import os

c_double_p = ctypes.POINTER(ctypes.c_double)


class Options(ctypes.Structure):
    """cmaes_options (enums are C ints)."""
    _fields_ = [
        ("dim", ctypes.c_int),
        ("x0", ctypes.c_void_p),
        ("x0_uniform_lo", ctypes.c_double),
        ("x0_uniform_hi", ctypes.c_double),
        ("sigma0", ctypes.c_double),
        ("sigma0_scale", ctypes.c_void_p),
        ("lower", ctypes.c_void_p),
        ("upper", ctypes.c_void_p),
        ("seed", ctypes.c_uint64),
        ("variant", ctypes.c_int),
        ("popsize", ctypes.c_int),
        ("mu", ctypes.c_int),
        ("active", ctypes.c_int),
        ("step_rule", ctypes.c_int),
        ("sampling", ctypes.c_int),
        ("eigen_gap_factor", ctypes.c_double),
        ("restarts", ctypes.c_int),
        ("max_restarts", ctypes.c_int),
        ("incpopsize", ctypes.c_double),
        ("noise_handling", ctypes.c_int),
        ("noise_reevals", ctypes.c_double),
        ("noise_epsilon", ctypes.c_double),
        ("noise_max_evals", ctypes.c_double),
        ("noise_alpha_sigma", ctypes.c_double),
        ("noise_alpha_evals", ctypes.c_double),
        ("ftarget", ctypes.c_double),
        ("max_fevals", ctypes.c_long),
        ("max_iter", ctypes.c_long),
        ("tolfun", ctypes.c_double),
        ("tolfunhist", ctypes.c_double),
        ("tolx", ctypes.c_double),
        ("tolupsigma", ctypes.c_double),
        ("tolconditioncov", ctypes.c_double),
        ("tolstagnation", ctypes.c_int),
        ("tolflatfitness", ctypes.c_int),
        ("tolnonfinite", ctypes.c_int),
    ]


class Batch(ctypes.Structure):
    """cmaes_batch."""
    _fields_ = [
        ("x", ctypes.c_void_p),
        ("count", ctypes.c_int),
        ("dim", ctypes.c_int),
        ("lambda_", ctypes.c_int),
    ]


class Status(ctypes.Structure):
    """cmaes_status."""
    _fields_ = [
        ("dim", ctypes.c_int),
        ("lambda_", ctypes.c_int),
        ("mu", ctypes.c_int),
        ("variant", ctypes.c_int),
        ("iteration", ctypes.c_long),
        ("evaluations", ctypes.c_long),
        ("run_iteration", ctypes.c_long),
        ("restarts", ctypes.c_int),
        ("finished", ctypes.c_int),
        ("stop", ctypes.c_uint),
        ("mean", ctypes.c_void_p),
        ("sigma", ctypes.c_double),
        ("min_std", ctypes.c_double),
        ("max_std", ctypes.c_double),
        ("axis_ratio", ctypes.c_double),
        ("best_x", ctypes.c_void_p),
        ("best_f", ctypes.c_double),
        ("best_evaluation", ctypes.c_long),
        ("restarted", ctypes.c_int),
        ("restart_reason", ctypes.c_uint),
        ("flat_fitness", ctypes.c_int),
        ("nonfinite", ctypes.c_int),
        ("nonfinite_total", ctypes.c_long),
        ("repairs", ctypes.c_int),
        ("noise_level", ctypes.c_double),
        ("evals_per_candidate", ctypes.c_double),
        ("noise_sigma_factor", ctypes.c_double),
        ("reevaluations", ctypes.c_int),
    ]


# cmaes_error codes (cmaes.h)
OK, ERR_OPTION, ERR_NOMEM, ERR_STATE, ERR_FINISHED, ERR_ARG, ERR_IO, ERR_FORMAT, ERR_CORRUPT, ERR_NUMERIC = \
    0, -1, -2, -3, -4, -5, -6, -7, -8, -9
ERRMSG_MAX = 256

VARIANTS = {"full": 0, "sep": 1}
RESTARTS = {None: 0, "none": 0, "ipop": 1, "bipop": 2}
STEP_RULES = {"auto": 0, "csa": 1, "tpa": 2}
SAMPLINGS = {"auto": 0, "iid": 1, "orthogonal": 2, "mirrored": 3}
STOP_BITS = 15   # CMAES_STOP_FTARGET (1 << 0) .. CMAES_STOP_USER (1 << 14)


def _candidates():
    """Where libbbtoptim.so is looked for, in order: $BBTOPTIM_LIB; beside the installed package
    (PREFIX/lib/pythonX.Y/site-packages/bbtoptim -> PREFIX/lib); the dynamic linker's search path."""
    env = os.environ.get("BBTOPTIM_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    beside = os.path.normpath(os.path.join(here, "..", "..", "..", "libbbtoptim.so"))
    found = ctypes.util.find_library("bbtoptim")
    return [p for p in (beside, "libbbtoptim.so", found) if p]


def _open():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (absent)" % path)
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
    raise ImportError("bbtoptim: cannot load libbbtoptim.so; tried " + "; ".join(tried) +
                      ". Install it with `make install PREFIX=...` or point BBTOPTIM_LIB at it.")


def _declare(lib):
    vp, i, sz, cp = ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t, ctypes.c_char_p
    sigs = {
        "cmaes_options_init": (None, [ctypes.POINTER(Options)]),
        "cmaes_create": (i, [ctypes.POINTER(vp), ctypes.POINTER(Options), cp, sz]),
        "cmaes_free": (None, [vp]),
        "cmaes_ask": (i, [vp, ctypes.POINTER(Batch)]),
        "cmaes_tell": (i, [vp, vp]),
        "cmaes_inject": (i, [vp, vp]),
        "cmaes_stop_now": (None, [vp]),
        "cmaes_get_status": (None, [vp, ctypes.POINTER(Status)]),
        "cmaes_stds": (None, [vp, vp]),
        "cmaes_stop_name": (cp, [ctypes.c_uint]),
        "cmaes_strerror": (cp, [i]),
        "cmaes_errmsg": (cp, [vp]),
        "cmaes_serialize": (i, [vp, ctypes.POINTER(vp), ctypes.POINTER(sz)]),
        "cmaes_deserialize": (i, [ctypes.POINTER(vp), vp, sz, cp, sz]),
        "cmaes_save": (i, [vp, cp]),
        "cmaes_load": (i, [ctypes.POINTER(vp), cp, cp, sz]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


# The library handle: loaded once, never changed afterwards (read-only module state; every optimizer's state lives in
# its own CMA object).
lib = _declare(_open())
# free() of the C library the optimizer's malloc belongs to, for the buffer cmaes_serialize hands back.
_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.free.restype = None
_libc.free.argtypes = [ctypes.c_void_p]
free = _libc.free
STOP_NAMES = tuple(lib.cmaes_stop_name(1 << b).decode() for b in range(STOP_BITS))
