"""Quickstart: fit a JKO flow to a 2-D toy, score held-out points, sample, and plot.
=================================================================================

Run: python examples/quickstart.py [--fast]

Prints the held-out mean log-likelihood of the flow next to a single Gaussian
and a GaussianMixture, and saves ``examples/quickstart.png`` when matplotlib
is installed (``pip install -e ".[examples]"``).
"""

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_moons
from sklearn.mixture import GaussianMixture

from skjko import JKOFlowDensity


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--fast", "--quick", action="store_true",
                        help="a few seconds, for smoke tests")
    parser.add_argument("--figure", type=Path,
                        help="where to save the figure (default: next to this script)")
    args = parser.parse_args(argv)
    args.figure = args.figure or Path(__file__).with_suffix(".png")

    X_train, _ = make_moons(n_samples=2000, noise=0.08, random_state=0)
    X_test, _ = make_moons(n_samples=2000, noise=0.08, random_state=1)
    flow = JKOFlowDensity(hidden_sizes=(64, 64), n_blocks=3, max_iter=40 if args.fast else 400,
                          batch_size=500, learning_rate=5e-3, random_state=0,
                          verbose=0 if args.fast else 1)  # progress bars for the full run
    start = time.perf_counter()
    flow.fit(X_train)
    print(f"fitted {flow.n_blocks_} blocks in {time.perf_counter() - start:.1f} s "
          f"(stopped: {flow.stop_reason_})")

    print("held-out mean log-likelihood (nats, higher is better):")
    print(f"  JKOFlowDensity        {flow.score(X_test):8.3f}")
    for k in (1, 8):
        gmm = GaussianMixture(n_components=k, random_state=0).fit(X_train)
        print(f"  GaussianMixture(k={k})  {gmm.score(X_test):8.3f}")
    scores = flow.score_samples(X_test)
    print(f"lowest-scoring held-out point (the most anomalous): {X_test[np.argmin(scores)]}")

    samples = flow.sample(2000, random_state=0)
    Z = flow.transform(X_test)
    print(f"latent codes: mean {Z.mean(axis=0).round(2)}, std {Z.std(axis=0).round(2)}")
    save_figure(flow, X_test, samples, args.figure)


def save_figure(flow, X, samples, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure (pip install -e '.[examples]')")
        return
    xs, ys = np.linspace(-1.5, 2.5, 200), np.linspace(-1.0, 1.5, 150)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    density = np.exp(flow.score_samples(grid)).reshape(len(ys), len(xs))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5), sharex=True, sharey=True)
    axes[0].scatter(*X.T, s=1)
    axes[0].set_title("held-out data")
    axes[1].pcolormesh(xs, ys, density, shading="auto")
    axes[1].set_title("learned density")
    axes[2].scatter(*samples.T, s=1, color="C1")
    axes[2].set_title("samples")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
