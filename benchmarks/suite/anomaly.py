"""Anomaly detection on the eight ODDS sets (ROC AUC), with ../shared/data/README.md's protocol.

For each set and seed: stratified 60/40 split (``train_test_split(stratify=y,
random_state=seed)``), ``StandardScaler`` fitted on the training part, every
detector fitted on the training part's rows (inliers and outliers alike,
labels unused), the test part scored. Low score = outlier, so the AUC is that
of minus the score against the outlier label.
"""

import time

import numpy as np
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KernelDensity, LocalOutlierFactor
from sklearn.preprocessing import StandardScaler

from skjko import JKOFlowDensity
from skjko.outlier import DEFAULT_ESTIMATOR_PARAMS

from ..common import load_odds

METHODS = ("skjko", "IsolationForest", "LOF", "GMM(8, full)", "KDE(scott)")


def make_detector(method, seed, jko_params):
    """An unfitted detector whose ``score_samples`` is high for inliers."""
    if method == "skjko":  # as JKOFlowOutlierDetector's default estimator, where not overridden
        return JKOFlowDensity(**{**DEFAULT_ESTIMATOR_PARAMS, **jko_params}, random_state=seed)
    if method == "IsolationForest":
        return IsolationForest(random_state=seed)
    if method == "LOF":
        return LocalOutlierFactor(novelty=True)
    if method == "GMM(8, full)":
        return GaussianMixture(8, covariance_type="full", random_state=seed)
    if method == "KDE(scott)":
        return KernelDensity(bandwidth="scott")
    raise ValueError(method)


def run_set(name, data_dir, seeds, jko_params):
    """AUC of every method on one set, per seed; result rows."""
    X, y = load_odds(data_dir, name)
    rows = []
    for seed in seeds:
        X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.4, stratify=y,
                                                      random_state=seed)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        for method in METHODS:
            start = time.perf_counter()
            detector = make_detector(method, seed, jko_params).fit(X_train)
            score = detector.score_samples(X_test)
            seconds = time.perf_counter() - start
            auc = float(roc_auc_score(y_test, -score))
            rows.append(dict(dataset=name, seed=seed, method=method, auc=auc,
                             seconds=seconds))
        line = ", ".join(f"{r['method']} {r['auc']:.3f}" for r in rows[-len(METHODS):])
        print(f"anomaly {name} seed {seed}: {line}", flush=True)
    return rows


def run(settings, data_dir):
    """All sets of the suite; returns the list of per-seed rows."""
    rows = []
    for name in settings["datasets"]:
        rows.extend(run_set(name, data_dir, settings["seeds"], settings["jko"]))
    return rows


def summarize(rows):
    """Mean AUC over seeds per (set, method), and the mean over sets per method."""
    sets = list(dict.fromkeys(r["dataset"] for r in rows))
    table = {s: {m: float(np.mean([r["auc"] for r in rows if r["dataset"] == s
                                   and r["method"] == m])) for m in METHODS} for s in sets}
    means = {m: float(np.mean([table[s][m] for s in sets])) for m in METHODS}
    return table, means
