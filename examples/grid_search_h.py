"""Choosing the JKO step size h (and the number of blocks) with GridSearchCV.
==========================================================================

Run: python examples/grid_search_h.py [--quick]

``JKOFlowDensity.score`` is the mean log-likelihood, so ``GridSearchCV`` needs no
scorer. A small h weights the W2 proximal term heavily and each block moves the
data little; a large h lets a block move far. Prints the best parameters and
saves ``examples/grid_search_h.png``: mean held-out log-likelihood against h,
one line per number of blocks. About a minute on 2 CPU cores.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_moons  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

from skjko import JKOFlowDensity  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests")
    parser.add_argument("--figure", type=Path,
                        help="where to save the figure (default: next to this script)")
    args = parser.parse_args(argv)
    args.figure = args.figure or Path(__file__).with_suffix(".png")
    X, _ = make_moons(600 if args.quick else 1500, noise=0.08, random_state=0)
    grid = {"h": [0.05, 0.25, 1.0, 4.0], "n_blocks": [1, 2]}
    flow = JKOFlowDensity(hidden_sizes=(32, 32), max_iter=15 if args.quick else 150,
                          batch_size=500, learning_rate=5e-3, movement_tol=0.0, n_reparam=0,
                          random_state=0)
    search = GridSearchCV(flow, grid, cv=3).fit(X)
    print(f"best: {search.best_params_}, mean held-out log-likelihood {search.best_score_:.3f}")

    results = search.cv_results_
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for n_blocks in grid["n_blocks"]:
        rows = np.flatnonzero(results["param_n_blocks"] == n_blocks)
        ax.errorbar(np.asarray(results["param_h"][rows], dtype=float),
                    results["mean_test_score"][rows], yerr=results["std_test_score"][rows],
                    marker="o", capsize=3, label=f"n_blocks={n_blocks}")
    ax.set_xscale("log")
    ax.set_xlabel("h (step size of the first block)")
    ax.set_ylabel("mean held-out log-likelihood")
    ax.legend()
    fig.savefig(args.figure, dpi=80, bbox_inches="tight")
    print(f"saved {args.figure}")


if __name__ == "__main__":
    main()
