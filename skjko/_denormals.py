"""Denormal floats flushed to zero while a flow trains on the CPU.

Training makes denormals (float32 values under 1.2e-38): Softplus units far below
their threshold, the gradients through them and Adam's moments of those gradients.
On x86 an arithmetic instruction that meets one falls back to microcode, many times
slower, and a vector instruction does so for all its lanes: twelve forward passes of
a MINIBOONE block trained for 1000 steps took 19.2 ms, 8.3 ms with denormals flushed
(``benchmarks/JOURNAL.md``, "Denormals"). Flushed, such a value becomes 0, which
changes no sum it enters by more than float32 rounds away. Scoring runs in float64,
whose denormals (under 2.2e-308) do not occur in practice, and is left as it is.
"""

from contextlib import contextmanager

import torch


def flushing_denormals() -> bool:
    """Whether this thread flushes denormals: a product in the denormal range comes out 0."""
    tiny = torch.tensor(1e-30, dtype=torch.float32)
    return bool(tiny * 1e-10 == 0)


@contextmanager
def flushed_denormals():
    """Run the block with denormals flushed to zero (``torch.set_flush_denormal``).

    The setting is the calling thread's, the one that drives training; torch's
    other threads keep theirs (flushing there too measured no faster). The
    previous setting is restored after. Where the CPU cannot flush, nothing
    changes.
    """
    previous = flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(previous)
