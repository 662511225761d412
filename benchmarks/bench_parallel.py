"""GridSearchCV with n_jobs=1 against n_jobs=2 (joblib processes), side by side in one run.

With n_jobs=1 the fits run one after the other, each with torch's default
threads (all cores). With n_jobs=2 joblib's loky workers run two fits at once,
one torch thread each (loky sets OMP_NUM_THREADS in its workers), so the cores
are not oversubscribed. The two searches must agree on every score.

    python -m benchmarks.bench_parallel [--repeats 2]
"""

import argparse
import time

import numpy as np
import torch
from sklearn.datasets import make_moons
from sklearn.model_selection import GridSearchCV

from skjko import JKOFlowDensity

from .common import machine_info


def timed_search(X, n_jobs):
    flow = JKOFlowDensity(hidden_sizes=(64, 64), n_blocks=2, max_iter=150, batch_size=500,
                          learning_rate=5e-3, n_reparam=0, device="cpu", random_state=0)
    search = GridSearchCV(flow, {"h": [0.25, 0.5, 1.0, 2.0]}, cv=2, n_jobs=n_jobs)
    start = time.perf_counter()
    search.fit(X)
    return time.perf_counter() - start, search.cv_results_["mean_test_score"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    print(machine_info(), f"torch threads in this process: {torch.get_num_threads()}")
    X, _ = make_moons(4000, noise=0.08, random_state=0)
    timed_search(X[:200], n_jobs=2)  # start the worker processes once, outside the timings
    print("| repeat | n_jobs=1 s | n_jobs=2 s | speed-up | max score difference |")
    print("|---|---|---|---|---|")
    for repeat in range(args.repeats):
        serial, serial_scores = timed_search(X, n_jobs=1)
        parallel, parallel_scores = timed_search(X, n_jobs=2)
        difference = np.abs(serial_scores - parallel_scores).max()
        print(f"| {repeat + 1} | {serial:.1f} | {parallel:.1f} | {serial / parallel:.2f} "
              f"| {difference:.1e} |", flush=True)


if __name__ == "__main__":
    main()
