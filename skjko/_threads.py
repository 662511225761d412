"""How many CPU threads torch may use while a flow trains.

torch's OpenMP threads spin while they wait for each other. On a machine
whose other cores are busy, two threads that each get part of a core wait on
one another much of the time: a training step with two threads beside busy
processes can take tens of times as long as with one, while one thread beside
one busy process runs at its idle speed. 'auto' therefore looks at how busy
the machine is before a fit and uses no more threads than there are idle cores.
It is not the default: the thread count changes how sums are rounded, so a
load-dependent count would make the same seed give different models. The
default is one thread, which never waits on another.
"""

import math
import time
from contextlib import contextmanager

import torch

#: How long the machine's load is sampled before a fit (seconds).
SAMPLE_SECONDS = 0.05


def _cpu_times():
    """(busy, total) jiffies of all CPUs and the number of CPUs, from /proc/stat; None elsewhere."""
    try:
        with open("/proc/stat") as stat:
            lines = stat.read().splitlines()
    except OSError:
        return None
    fields = [int(v) for v in lines[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    n_cpus = sum(line.startswith("cpu") and line[3:4].isdigit() for line in lines)
    return sum(fields) - idle, sum(fields), n_cpus


def idle_cpus(interval: float = SAMPLE_SECONDS):
    """Idle CPUs of the whole machine over the next ``interval`` seconds; None if unknown.

    This process sleeps while it samples, so what is busy is busy elsewhere.
    """
    before = _cpu_times()
    if before is None:
        return None
    time.sleep(interval)
    after = _cpu_times()
    elapsed = after[1] - before[1]
    if elapsed <= 0:
        return None
    return after[2] * (1 - (after[0] - before[0]) / elapsed)


def resolve_n_threads(n_threads) -> int:
    """The thread count for a fit: torch's for None, the idle CPUs for 'auto', else ``n_threads``.

    'auto' is torch's current thread count (``torch.get_num_threads()``),
    lowered to the number of idle CPUs, rounded, and at least 1.
    """
    available = torch.get_num_threads()
    if n_threads is None:
        return available
    if n_threads != "auto":
        return int(n_threads)
    idle = idle_cpus()
    if idle is None:
        return available
    return max(1, min(available, math.floor(idle + 0.5)))


@contextmanager
def torch_threads(n_threads: int):
    """Run the block with ``torch.set_num_threads(n_threads)``; restore the old count after."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
