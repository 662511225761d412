"""Default settings side by side: test NLL and fit time of candidate defaults on several data sets.

Each candidate is ``JKOFlowDensity(random_state=0, **overrides)``; everything not
overridden is the package default. Every data set is fitted by every candidate
in one process, one after the other, next to a GaussianMixture whose
components and covariance type are chosen on a validation split. The median
per-row NLL is printed too: on ODDS sets a few test rows far outside the
training range can dominate the mean. This is the part that chose the defaults:

    python -m benchmarks run --suite full --parts defaults --datasets rings miniboone \\
        --set n_toy=20000 --set 'candidates=[{}, {"training_divergence": "exact"}]'
"""

import json
import time

import numpy as np

from skjko import JKOFlowDensity

from ..common import load_any
from .peers import fit_gmm


def run(settings, data_dir):
    """Every candidate on every data set of ``settings``; one row per model."""
    rows = []
    for name in settings["datasets"]:
        X_train, X_test = load_any(name, data_dir, settings["n_toy"], settings["dequantize"])
        start = time.perf_counter()
        gmm, chosen = fit_gmm(X_train, settings["gmm_grid"])
        gmm_nll = -gmm.score_samples(X_test)
        rows.append(dict(dataset=name, model=f"GMM {chosen}", test_nll=gmm_nll.mean(),
                         median_nll=float(np.median(gmm_nll)), fit_s=time.perf_counter() - start))
        for overrides in settings["candidates"]:
            start = time.perf_counter()
            model = JKOFlowDensity(random_state=0, **overrides).fit(X_train)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            nll = -model.score_samples(X_test)
            rows.append(dict(dataset=name, model=json.dumps(overrides), test_nll=nll.mean(),
                             median_nll=float(np.median(nll)), fit_s=fit_s,
                             score_s=time.perf_counter() - start, n_blocks=model.n_blocks_,
                             n_iter=model.n_iter_, stop=model.stop_reason_))
            print(row_line(rows[-1]), flush=True)  # each fit as it ends
    return rows


def table(rows):
    """Markdown: one line per model (the mixture first on each data set), then each
    candidate's count of data sets where it is ahead of the mixture."""
    lines = ["| data set | model | test NLL | median NLL | fit s | score s | blocks | iters "
             "| stop |", "|---|---|---|---|---|---|---|---|---|"]
    return "\n".join(lines + [row_line(r) for r in rows] + [""] + against_mixture(rows))


def row_line(r):
    """One model's line of :func:`table`."""
    return (f"| {r['dataset']} | {r['model']} | {r['test_nll']:.3f} "
            f"| {r['median_nll']:.3f} | {r['fit_s']:.1f} "
            f"| {r.get('score_s', float('nan')):.2f} | {r.get('n_blocks', '')} "
            f"| {r.get('n_iter', '')} | {r.get('stop', '')} |")


def against_mixture(rows):
    """One line per candidate: on how many data sets its mean and its median test NLL are
    below the mixture's of the same run (issue 16 counts both), and where they are not."""
    mixtures = {r["dataset"]: r for r in rows if r["model"].startswith("GMM")}
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows if not r["model"].startswith("GMM")):
        mine = [r for r in rows if r["model"] == model and r["dataset"] in mixtures]
        counts = []
        for key, label in (("test_nll", "mean"), ("median_nll", "median")):
            behind = [r["dataset"] for r in mine if not r[key] < mixtures[r["dataset"]][key]]
            counts.append(f"{len(mine) - len(behind)} of {len(mine)} by the {label}"
                          + (f" (behind: {', '.join(behind)})" if behind else ""))
        lines.append(f"- `{model}` ahead of the mixture on " + "; ".join(counts) + ".")
    return lines
