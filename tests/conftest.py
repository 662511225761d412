import os

# scikit-learn's check_array_api_input skips itself unless SciPy's array API
# support is switched on, which must happen before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# One torch thread in the tests and in the interpreters they start (README
# blocks, examples): on a machine whose other cores are busy, threads that spin
# waiting for each other made the suite crawl (benchmarks/JOURNAL.md, threads).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after the environment is set)

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one pytest-xdist worker per usable CPU, plus one.

    Some tests wait on interpreters they start (README blocks, examples) and the test
    files do not split evenly, so one worker per CPU leaves a CPU idle part of the
    time; on a machine shared with busy processes, one more worker also holds the
    suite's share of the CPUs (benchmarks/JOURNAL.md, "One more test worker than
    CPUs"). ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still overrides it.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cpus or 1) + 1
