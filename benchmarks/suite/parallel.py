"""GridSearchCV with n_jobs=1 against n_jobs=2 (joblib processes), side by side in one run.

With n_jobs=1 the fits run one after the other, each with torch's default
threads (all cores). With n_jobs=2 joblib's loky workers run two fits at once,
one torch thread each (loky sets OMP_NUM_THREADS in its workers), so the cores
are not oversubscribed. The two searches must agree on every score.

    python -m benchmarks run --suite full --parts parallel
"""

import os
import time

import numpy as np
import torch
from sklearn.datasets import make_moons
from sklearn.model_selection import GridSearchCV

from skjko import JKOFlowDensity


def timed_search(X, n_jobs, settings):
    flow = JKOFlowDensity(**settings["jko"], random_state=0)
    search = GridSearchCV(flow, {"h": list(settings["h_grid"])}, cv=2, n_jobs=n_jobs)
    start = time.perf_counter()
    search.fit(X)
    return time.perf_counter() - start, search.cv_results_["mean_test_score"]


def run(settings, data_dir=None):
    """``repeats`` rows: both searches' seconds, the speed-up and the largest score difference."""
    X, _ = make_moons(settings["n_rows"], noise=0.08, random_state=0)
    timed_search(X[:200], 2, settings)  # start the worker processes once, outside the timings
    # The serial search gets every core, as torch's default would, not the suite's one thread.
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or threads)
    rows = []
    try:
        for repeat in range(settings["repeats"]):
            serial, serial_scores = timed_search(X, 1, settings)
            parallel, parallel_scores = timed_search(X, 2, settings)
            rows.append(dict(repeat=repeat + 1, serial_s=serial, parallel_s=parallel,
                             speed_up=serial / parallel,
                             max_score_difference=float(np.abs(serial_scores
                                                               - parallel_scores).max()),
                             serial_threads=torch.get_num_threads()))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    finally:
        torch.set_num_threads(threads)
    return rows


def table(rows):
    lines = ["| repeat | n_jobs=1 s | n_jobs=2 s | speed-up | max score difference | "
             "threads of the serial fits |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['repeat']} | {r['serial_s']:.1f} | {r['parallel_s']:.1f} | "
              f"{r['speed_up']:.2f} | {r['max_score_difference']:.1e} | "
              f"{r.get('serial_threads', '')} |" for r in rows]
    return "\n".join(lines)
