"""Learned 2-D densities, block by block: data, density after each block, samples.
===============================================================================

Run: python examples/plot_density_2d.py [--quick]

Fits a JKOFlowDensity to three 2-D toys (two moons, concentric circles, eight
Gaussians) and saves ``examples/plot_density_2d.png``: per toy, the data, the
density of the flow made of its first 1, 2, ... blocks, and samples of the
whole flow. Every block moves the data one JKO step closer to N(0, I), so the
density sharpens block by block. About a minute on 2 CPU cores; ``--quick``
takes seconds (and looks rough).
"""

import argparse
import copy
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import make_circles, make_moons  # noqa: E402

from skjko import JKOFlowDensity  # noqa: E402


def eight_gaussians(n, random_state):
    rng = np.random.default_rng(random_state)
    angles = rng.integers(0, 8, n) * np.pi / 4
    centers = 2.0 * np.column_stack([np.cos(angles), np.sin(angles)])
    return centers + 0.2 * rng.normal(size=(n, 2))


TOYS = {
    "moons": lambda n: make_moons(n, noise=0.06, random_state=0)[0],
    "circles": lambda n: make_circles(n, noise=0.04, factor=0.5, random_state=0)[0],
    "8 gaussians": lambda n: eight_gaussians(n, 0),
}


def first_blocks(model, k):
    """A copy of the fitted model that keeps only its first ``k`` blocks."""
    partial = copy.deepcopy(model)
    partial.flow_.blocks = partial.flow_.blocks[:k]
    partial.n_blocks_ = k
    return partial


def density_on_grid(model, X, size):
    low, high = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    xs, ys = np.linspace(low[0], high[0], size), np.linspace(low[1], high[1], size)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return xs, ys, np.exp(model.score_samples(grid)).reshape(size, size)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests")
    parser.add_argument("--figure", type=Path,
                        help="where to save the figure (default: next to this script)")
    args = parser.parse_args(argv)
    args.figure = args.figure or Path(__file__).with_suffix(".png")
    n_rows, max_iter, n_blocks, size = (500, 20, 2, 40) if args.quick else (4000, 300, 3, 120)

    fig, axes = plt.subplots(len(TOYS), n_blocks + 2, figsize=(3 * (n_blocks + 2), 3 * len(TOYS)),
                             squeeze=False)
    for row, (name, make) in zip(axes, TOYS.items()):
        X = make(n_rows)
        start = time.perf_counter()
        model = JKOFlowDensity(hidden_sizes=(64, 64), n_blocks=n_blocks, movement_tol=0.0,
                               max_iter=max_iter, batch_size=500, learning_rate=5e-3,
                               n_reparam=0, random_state=0).fit(X)
        print(f"{name}: {model.n_blocks_} blocks in {time.perf_counter() - start:.1f} s, "
              f"mean log-likelihood {model.score(X):.3f}")
        row[0].scatter(*X.T, s=1)
        row[0].set_title(f"{name}: data")
        for k in range(1, n_blocks + 1):
            ax = row[k]
            if k <= model.n_blocks_:
                ax.pcolormesh(*density_on_grid(first_blocks(model, k), X, size), shading="auto")
            ax.set_title(f"density, {k} block{'s' if k > 1 else ''}")
        row[-1].scatter(*model.sample(min(n_rows, 2000), random_state=0).T, s=1, color="C1")
        row[-1].set_title("samples")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.savefig(args.figure, dpi=80, bbox_inches="tight")
    print(f"saved {args.figure}")


if __name__ == "__main__":
    main()
