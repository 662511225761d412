"""Default settings side by side with the peers: test NLL and fit time on several data sets.

Each candidate is ``JKOFlowDensity(random_state=0, **overrides)``; everything not
overridden is the package default. Every data set is fitted by every candidate
in one process, one after the other, next to the peers: a GaussianMixture whose
components and covariance type are chosen on a validation split, a KDE whose
bandwidth is chosen by cross-validation, and zuko's flows named in ``peers``
trained as their users train them (:func:`.peers.train_zuko`). The median
per-row NLL is printed too: on ODDS sets a few test rows far outside the
training range can dominate the mean.

With ``dequantize`` the table's NLL is the one the field compares on sets whose
columns sit on a grid: every model scored on the same test rows spread over their
grid cells (:func:`~benchmarks.common.dequantized_pair`), the peers trained on the
training rows spread the same way, skjko on the rows as a user has them (its own
``dequantize`` decides what it does with them); the NLL on the raw test rows stands
beside it. This is the part that chose the defaults:

    python -m benchmarks run --suite full --parts defaults --datasets rings miniboone \\
        --set n_toy=20000 --set 'candidates=[{}, {"training_divergence": "exact"}]'
"""

import json
import time

import numpy as np

from skjko import JKOFlowDensity

from ..common import dequantized_pair, load_any
from .peers import epoch_steps, fit_gmm, fit_kde, train_zuko


def run(settings, data_dir):
    """Every peer and candidate on every data set of ``settings``; one row per model."""
    rows = []
    for name in settings["datasets"]:
        X_train, X_test = load_any(name, data_dir, settings["n_toy"])
        D_train, D_test = (dequantized_pair(X_train, X_test) if settings["dequantize"]
                           else (X_train, X_test))
        for label, fit in peer_fits(settings):
            start = time.perf_counter()
            model, chosen = fit(D_train)
            rows.append(scored(name, f"{label} {chosen}", model, D_test, X_test,
                               time.perf_counter() - start))
            print(row_line(rows[-1]), flush=True)
        for overrides in settings["candidates"]:
            start = time.perf_counter()
            model = JKOFlowDensity(random_state=0, **overrides).fit(X_train)
            rows.append(scored(name, json.dumps(overrides), model, D_test, X_test,
                               time.perf_counter() - start, n_blocks=model.n_blocks_,
                               n_iter=model.n_iter_, stop=model.stop_reason_))
            print(row_line(rows[-1]), flush=True)  # each fit as it ends
    return rows


def peer_fits(settings):
    """(label, fit) of every peer: ``fit(X)`` returns the model and what was chosen."""
    fits = [("GMM", lambda X: fit_gmm(X, settings["gmm_grid"]))]
    if settings.get("kde_bandwidths"):
        fits.append(("KDE", lambda X: fit_kde(X, settings["kde_bandwidths"], cv_rows=2000)))
    for kind in settings.get("peers", ()):
        def fit_zuko(X, kind=kind):
            model, info = train_zuko(kind, X, settings["peer_seconds"],  # checks each epoch
                                     eval_every=epoch_steps(len(X), settings["zuko"]["batch_size"]),
                                     **settings["zuko"])
            return model, f"({info['steps']} steps)"
        fits.append((kind, fit_zuko))
    return fits


def scored(name, model_label, model, X_test, X_raw, fit_s, **info):
    """One table row: ``model``'s mean and median NLL on ``X_test``, mean on ``X_raw``."""
    start = time.perf_counter()
    nll = -model.score_samples(X_test)
    score_s = time.perf_counter() - start
    raw_nll = nll if X_raw is X_test else -model.score_samples(X_raw)
    return dict(dataset=name, model=model_label, test_nll=float(nll.mean()),
                median_nll=float(np.median(nll)), raw_nll=float(np.mean(raw_nll)),
                fit_s=fit_s, score_s=score_s, **info)


def table(rows):
    """Markdown: one line per model (the peers first on each data set), then each
    candidate's count of data sets where it is ahead of the mixture and of every peer."""
    lines = ["| data set | model | test NLL | median NLL | raw test NLL | fit s | score s "
             "| blocks | iters | stop |", "|---|---|---|---|---|---|---|---|---|---|"]
    return "\n".join(lines + [row_line(r) for r in rows] + [""] + against_peers(rows))


def row_line(r):
    """One model's line of :func:`table`."""
    return (f"| {r['dataset']} | {r['model']} | {r['test_nll']:.3f} "
            f"| {r['median_nll']:.3f} | {r.get('raw_nll', r['test_nll']):.3f} "
            f"| {r['fit_s']:.1f} "
            f"| {r.get('score_s', float('nan')):.2f} | {r.get('n_blocks', '')} "
            f"| {r.get('n_iter', '')} | {r.get('stop', '')} |")


def against_peers(rows):
    """One line per candidate: on how many data sets its mean and its median test NLL are
    below the mixture's of the same run (issue 16 counts both), then below every peer's
    (issue 47 counts the mean), and where they are not."""
    is_peer = lambda r: not r["model"].startswith("{")  # noqa: E731: candidates are JSON
    peers = {}
    for r in filter(is_peer, rows):
        peers.setdefault(r["dataset"], []).append(r)
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows if not is_peer(r)):
        mine = [r for r in rows if r["model"] == model and r["dataset"] in peers]
        counts = []
        for key, label, of in (("test_nll", "mean", ("GMM",)), ("median_nll", "median", ("GMM",)),
                               ("test_nll", "mean", None)):
            behind = [r["dataset"] for r in mine if not all(
                r[key] < p[key] for p in peers[r["dataset"]]
                if of is None or p["model"].startswith(of))]
            counts.append(f"{len(mine) - len(behind)} of {len(mine)} by the {label} "
                          f"{'of the mixture' if of else 'of every peer'}"
                          + (f" (behind: {', '.join(behind)})" if behind else ""))
        lines.append(f"- `{model}` ahead on " + "; ".join(counts) + ".")
    return lines
