"""Denormal floats flushed to zero while a flow trains on the CPU.

Training makes denormals (float32 values under 1.2e-38): Softplus units far below
their threshold and the gradients through them. On x86 an arithmetic instruction
that meets one falls back to microcode, many times slower, and a vector instruction
does so for all its lanes, and a trained block's forward passes slow down
severalfold. Flushed, such a value becomes 0, which
changes no sum it enters by more than float32 rounds away. Scoring runs in float64,
whose denormals (under 2.2e-308) do not occur in practice, and is left as it is.

The setting is per thread (the CPU's control register), and torch's OpenMP threads
keep the one they started with; the calling thread then waits for them at every
parallel operation, so they are flushed too, through the OpenMP runtime torch loaded.
"""

import ctypes
import glob
import os
import threading
from contextlib import contextmanager
from functools import lru_cache

import torch

#: ``void (*)(void *)``: what ``GOMP_parallel`` runs on every thread of the team.
_TEAM_TASK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def flushing_denormals() -> bool:
    """Whether this thread flushes denormals: a product in the denormal range comes out 0."""
    tiny = torch.tensor(1e-30, dtype=torch.float32)
    return bool(tiny * 1e-10 == 0)


def _gnu_openmp_loaded() -> bool:
    """Whether GCC's libgomp is loaded in this process, as Linux's ``/proc/self/maps`` shows.

    The one runtime whose ``GOMP_parallel`` is its own entry point; LLVM's libomp
    (macOS) and Intel's libiomp5 only emulate it, and Windows has no such file.
    """
    try:
        with open("/proc/self/maps") as maps:
            return any("libgomp" in line for line in maps)
    except OSError:
        return False


@lru_cache(maxsize=None)
def _openmp_parallel():
    """``GOMP_parallel`` of the GNU OpenMP runtime torch's CPU library is linked with, or None.

    Looked up through ``libtorch_cpu`` itself, which finds the runtime it loaded (other
    packages may load their own copy, with threads of its own). None on any other
    runtime (:func:`_gnu_openmp_loaded`): there only the calling thread flushes.
    """
    if not _gnu_openmp_loaded():
        return None
    for path in sorted(glob.glob(os.path.join(os.path.dirname(torch.__file__), "lib",
                                              "libtorch_cpu.*"))):
        try:
            parallel = ctypes.CDLL(path).GOMP_parallel
        except (OSError, AttributeError):
            continue
        parallel.argtypes = [_TEAM_TASK, ctypes.c_void_p, ctypes.c_uint, ctypes.c_uint]
        parallel.restype = None
        return parallel
    return None


def on_every_thread(function):
    """Call ``function()`` on each thread of the caller's OpenMP team, the caller included
    (as many as ``torch.get_num_threads()``); on the caller alone where no OpenMP runtime
    is found."""
    parallel = _openmp_parallel()
    if parallel is None:
        function()
        return
    task = _TEAM_TASK(lambda _: function())
    parallel(task, None, 0, 0)  # 0 threads: the team torch's thread count sets


@contextmanager
def flushed_denormals():
    """Run the block with denormals flushed to zero (``torch.set_flush_denormal``) on
    the calling thread and torch's OpenMP threads; each thread's previous setting is
    restored after. Where the CPU cannot flush, nothing changes."""
    previous = {}

    def flush():
        previous[threading.get_ident()] = flushing_denormals()
        torch.set_flush_denormal(True)

    def restore():
        torch.set_flush_denormal(previous.get(threading.get_ident(), False))

    on_every_thread(flush)
    try:
        yield
    finally:
        on_every_thread(restore)
