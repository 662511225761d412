r"""Conditional densities p(y | x): a spread that grows away from x = 0, and two branches.
======================================================================================

Run: python examples/plot_conditional.py [--quick]

JKOFlowConditionalDensity learns the whole distribution of y at each x, not a
mean with one noise level. Two 1-D problems with known answers: y | x ~ N(sin x,
(0.1 + \|x\|/4)²), whose spread grows with \|x\|, and y = ±(1 + x/2) + noise, whose
two branches a regression mean would average into a line between them. Saves
``examples/plot_conditional.png`` (the learned p(y | x) as an image, the
conditional median from ``predict`` and the true quantiles on top) and prints
held-out conditional log-likelihoods beside the truth and a homoscedastic
Gaussian regression (a cubic-spline mean, one noise level). About a minute on 2
CPU cores; ``--quick`` takes seconds (and looks rough).
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import norm  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import SplineTransformer  # noqa: E402

from skjko import JKOFlowConditionalDensity  # noqa: E402


def heteroscedastic(n, rng):
    x = rng.uniform(-3, 3, size=n)
    spread = 0.1 + np.abs(x) / 4
    return x, np.sin(x) + spread * rng.normal(size=n)


def two_branches(n, rng):
    x = rng.uniform(-2, 2, size=n)
    return x, rng.choice([-1, 1], size=n) * (1 + x / 2) + 0.15 * rng.normal(size=n)


def true_log_density(name, x, y):
    if name == "heteroscedastic":
        return norm.logpdf(y, np.sin(x), 0.1 + np.abs(x) / 4)
    centre = 1 + x / 2
    return np.logaddexp(norm.logpdf(y, centre, 0.15), norm.logpdf(y, -centre, 0.15)) - np.log(2)


def homoscedastic_log_density(x, y, x_test, y_test):
    """A spline regression's mean with the residuals' one noise level: what a regressor gives."""
    mean = make_pipeline(SplineTransformer(n_knots=8), LinearRegression()).fit(x[:, None], y)
    sigma = np.std(y - mean.predict(x[:, None]))
    return norm.logpdf(y_test, mean.predict(x_test[:, None]), sigma)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests")
    parser.add_argument("--figure", type=Path,
                        help="where to save the figure (default: next to this script)")
    args = parser.parse_args(argv)
    args.figure = args.figure or Path(__file__).with_suffix(".png")
    rng = np.random.default_rng(0)
    settings = (dict(hidden_sizes=(16, 16), n_blocks=2, max_iter=30) if args.quick else
                dict(hidden_sizes=(64, 64), n_blocks=4, max_iter=400))

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (name, draw) in zip(axes, (("heteroscedastic", heteroscedastic),
                                       ("two branches", two_branches))):
        x, y = draw(3000, rng)
        x_test, y_test = draw(3000, rng)
        model = JKOFlowConditionalDensity(**settings, random_state=0).fit(x[:, None], y)
        print(f"{name}: held-out log p(y | x): flow {model.score(x_test[:, None], y_test):.3f}, "
              f"truth {true_log_density(name, x_test, y_test).mean():.3f}, homoscedastic "
              f"regression {homoscedastic_log_density(x, y, x_test, y_test).mean():.3f} "
              f"({model.n_blocks_} blocks)")

        xs = np.linspace(x.min(), x.max(), 120)
        ys = np.linspace(y.min() - 0.5, y.max() + 0.5, 160)
        grid_x, grid_y = np.meshgrid(xs, ys)
        density = np.exp(model.score_samples(grid_x.reshape(-1, 1), grid_y.ravel()))
        ax.imshow(density.reshape(grid_x.shape), origin="lower", aspect="auto", cmap="viridis",
                  extent=(xs[0], xs[-1], ys[0], ys[-1]))
        ax.plot(xs, model.predict(xs[:, None]), color="white", lw=1.5,
                label="predict: conditional median")
        if name == "heteroscedastic":
            for q in (0.1, 0.9):
                ax.plot(xs, norm.ppf(q, np.sin(xs), 0.1 + np.abs(xs) / 4), "--", color="orange",
                        lw=1, label="true 10 % and 90 % quantiles" if q == 0.1 else None)
        ax.set_title(f"learned p(y | x), {name}")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(args.figure, dpi=80)
    print(f"saved {args.figure}")


if __name__ == "__main__":
    main()
