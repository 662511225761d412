"""A Pipeline with preprocessing: score, map to the latent space and back.
=======================================================================

Run: python examples/pipeline.py [--quick]

Features on very different scales (a log-normal column, a bounded one) go
through a ``QuantileTransformer`` before the flow. The pipeline then scores
rows, maps them to the flow's latent space (about N(0, I)), returns pandas
output with ``set_output``, and maps latent codes back to the data space with
``inverse_transform``. Saves ``examples/pipeline.png``: the data, its latent
codes, and new rows drawn by pushing Gaussian codes back through the pipeline.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import QuantileTransformer  # noqa: E402

from skjko import JKOFlowDensity  # noqa: E402


def skewed_frame(n, random_state=0):
    rng = np.random.default_rng(random_state)
    income = rng.lognormal(mean=10, sigma=0.6, size=n)
    share = np.clip(0.1 + 0.5 * np.log(income) / 12 + 0.05 * rng.normal(size=n), 0, 1)
    return pd.DataFrame({"income": income, "share": share})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests")
    parser.add_argument("--figure", type=Path,
                        help="where to save the figure (default: next to this script)")
    args = parser.parse_args(argv)
    args.figure = args.figure or Path(__file__).with_suffix(".png")
    frame = skewed_frame(800 if args.quick else 3000)
    pipe = make_pipeline(
        QuantileTransformer(output_distribution="normal", n_quantiles=200),
        JKOFlowDensity(hidden_sizes=(32, 32), n_blocks=2, max_iter=20 if args.quick else 300,
                       batch_size=500, learning_rate=5e-3, random_state=0),
    ).set_output(transform="pandas")
    pipe.fit(frame)
    print(f"mean log-likelihood (in the quantile-transformed space): {pipe.score(frame):.3f}")
    latent = pipe.transform(frame)
    print("latent codes, a DataFrame:", list(latent.columns))
    print(latent.describe().loc[["mean", "std"]].round(2))
    back = pipe.inverse_transform(latent.to_numpy())
    error = np.max(np.abs(np.asarray(back) - frame.to_numpy()) / (1 + frame.abs().to_numpy()))
    print(f"inverse_transform(transform(X)) recovers X to a relative {error:.1e}")
    new_rows = pipe.inverse_transform(np.random.default_rng(1).standard_normal((len(frame), 2)))

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
    axes[0].scatter(frame["income"], frame["share"], s=2)
    axes[0].set_title("data")
    axes[1].scatter(*latent.to_numpy().T, s=2)
    axes[1].set_title("latent codes (transform)")
    axes[2].scatter(*np.asarray(new_rows).T, s=2, color="C1")
    axes[2].set_title("Gaussian codes, inverse_transform")
    for ax in (axes[0], axes[2]):
        ax.set_xscale("log")
        ax.set_xlabel("income")
        ax.set_ylabel("share")
    fig.savefig(args.figure, dpi=80, bbox_inches="tight")
    print(f"saved {args.figure}")


if __name__ == "__main__":
    main()
