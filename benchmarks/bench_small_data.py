"""Small training sets: test NLL with early stopping on against off.

For each data set (ODDS normal rows or any set ``bench_defaults`` loads), draws
50, 100 and 200 training rows (seed 0) and fits the defaults (``random_state=0``)
with ``early_stopping=True`` (10 % validation rows) and ``early_stopping=False``,
scoring the whole test part; a diagonal Gaussian fitted on the same rows is the
reference. This is the measurement behind ``early_stopping='auto'``.

    python -m benchmarks.bench_small_data --data-dir ../shared/data --datasets pima wbc
"""

import argparse
import time

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from skjko import JKOFlowDensity

from .common import load_any, machine_info


def compare(name, X_train, X_test, sizes):
    for n in sizes:
        rows = np.random.default_rng(0).choice(len(X_train), size=min(n, len(X_train)),
                                               replace=False)
        line = [f"{name} n={len(rows)}"]
        for early_stopping in (True, False):
            start = time.perf_counter()
            model = JKOFlowDensity(random_state=0, early_stopping=early_stopping).fit(
                X_train[rows])
            nll = -model.score_samples(X_test)
            line.append(f"ES={early_stopping}: {nll.mean():.4g} (median {np.median(nll):.4g}, "
                        f"{model.n_blocks_} blocks, {time.perf_counter() - start:.0f}s)")
        gaussian = GaussianMixture(1, covariance_type="diag", random_state=0).fit(X_train[rows])
        line.append(f"diag Gaussian {-gaussian.score(X_test):.4g}")
        print(" | ".join(line), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--datasets", nargs="+", default=["pima", "wbc"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 100, 200])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(machine_info(), flush=True)
    for name in args.datasets:
        X_train, X_test = load_any(name, args.data_dir, 5000)
        compare(name, X_train, X_test, args.sizes)


if __name__ == "__main__":
    main()
