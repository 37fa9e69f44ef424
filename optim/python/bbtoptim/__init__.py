"""bbtoptim — libbbtoptim's CMA-ES (optim/cmaes.h) from Python, over the installed shared library with ctypes.

    import bbtoptim
    es = bbtoptim.CMA([3.0] * 10, 2.0, seed=1)
    while not es.stop():
        X = es.ask()
        es.tell(X, (X ** 2).sum(axis=1))
    print(es.result)

bbtoptim.optuna.BbtCmaSampler is an Optuna sampler on the same engine (imported on its own: it needs optuna).
The same options and seed give the same candidates, bit for bit, as the C library on the same build and BLAS.
"""

from ._cma import (CMA, Result, Error, OptionError, ArgumentError, StateError, FinishedError, NoMemoryError,
                   FileError, FormatError, CorruptError, NumericError)
from ._capi import STOP_NAMES

__all__ = ["CMA", "Result", "Error", "OptionError", "ArgumentError", "StateError", "FinishedError", "NoMemoryError",
           "FileError", "FormatError", "CorruptError", "NumericError", "STOP_NAMES"]
__version__ = "1.0.0"
