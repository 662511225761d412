"""Anomaly detection: ROC curves of the JKO flow against IsolationForest and a Gaussian mixture.
=============================================================================================

Run: python examples/plot_anomaly_detection.py [--quick]

Inliers lie on two noisy arcs whose other three features are functions of
the first two; outliers mix the features of two inliers, so no single feature
gives them away. Every detector is fitted unsupervised on a training set that holds
both, and ranks a held-out set: ``JKOFlowOutlierDetector`` by log-likelihood,
``IsolationForest`` by its isolation score, ``GaussianMixture`` by its own
log-likelihood. Prints each ROC AUC and saves
``examples/plot_anomaly_detection.png``. About a minute on 2 CPU cores.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.ensemble import IsolationForest  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from skjko import JKOFlowDensity, JKOFlowOutlierDetector  # noqa: E402


def arcs_with_outliers(n_inliers, n_outliers, random_state=0):
    """Two interleaved noisy arcs in 5-D, and outliers that break how the features relate.

    Columns 3-5 of an inlier are functions of its first two. An outlier takes its
    first two columns from one inlier and the other three from another: every
    feature on its own looks normal, only the joint density gives it away.
    """
    rng = np.random.default_rng(random_state)

    def arcs(n):
        angle = rng.uniform(0, np.pi, n)
        upper = rng.integers(0, 2, n).astype(bool)
        xy = np.where(upper[:, None], np.column_stack([np.cos(angle), np.sin(angle)]),
                      np.column_stack([1 - np.cos(angle), 0.5 - np.sin(angle)]))
        rows = np.column_stack([xy, xy[:, 0] * xy[:, 1], xy[:, 0] ** 2, np.sin(3 * xy[:, 1])])
        return rows + 0.05 * rng.normal(size=rows.shape)

    inliers = arcs(n_inliers)
    outliers = np.column_stack([arcs(n_outliers)[:, :2], arcs(n_outliers)[:, 2:]])
    X = np.vstack([inliers, outliers])
    is_outlier = np.r_[np.zeros(n_inliers), np.ones(n_outliers)]
    return X, is_outlier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings, for smoke tests")
    parser.add_argument("--figure", type=Path,
                        help="where to save the figure (default: next to this script)")
    args = parser.parse_args(argv)
    args.figure = args.figure or Path(__file__).with_suffix(".png")
    X, is_outlier = arcs_with_outliers(1000 if args.quick else 4000, 50 if args.quick else 200)
    X_train, X_test, _, y_test = train_test_split(X, is_outlier, test_size=0.4,
                                                  stratify=is_outlier, random_state=0)
    flow = JKOFlowDensity(hidden_sizes=(64, 64), n_blocks=3, max_iter=30 if args.quick else 300,
                          batch_size=500, learning_rate=5e-3, random_state=0)
    detectors = {
        "JKOFlowOutlierDetector": make_pipeline(StandardScaler(), JKOFlowOutlierDetector(flow)),
        "IsolationForest": make_pipeline(StandardScaler(), IsolationForest(random_state=0)),
        "GaussianMixture(8)": make_pipeline(StandardScaler(),
                                            GaussianMixture(8, random_state=0)),
    }
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, detector in detectors.items():
        detector.fit(X_train)
        outlyingness = -detector.score_samples(X_test)  # low likelihood = outlier
        auc = roc_auc_score(y_test, outlyingness)
        print(f"{name:24s} ROC AUC {auc:.3f}")
        ax.plot(*roc_curve(y_test, outlyingness)[:2], label=f"{name} (AUC {auc:.3f})")
    predicted = detectors["JKOFlowOutlierDetector"].predict(X_test) == -1
    print(f"JKOFlowOutlierDetector (contamination='auto') flags {predicted.mean():.1%} of the "
          f"test rows; {y_test.mean():.1%} are outliers")
    ax.plot([0, 1], [0, 1], color="gray", linestyle=":")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.legend(loc="lower right")
    fig.savefig(args.figure, dpi=80, bbox_inches="tight")
    print(f"saved {args.figure}")


if __name__ == "__main__":
    main()
