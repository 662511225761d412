"""How fit and score times grow with n and with d, and the fitted log-log exponents.

Fits use a fixed amount of work (``movement_tol=0``, ``early_stopping=False``,
``n_reparam=0``: exactly ``n_blocks`` blocks of ``max_iter`` Adam steps on
minibatches of 1000), so fit time grows with n only through what touches every
training row (standardization, pushing the rows through each trained block).
Score time is ``score_samples`` on n rows. Data: the checkerboard toy for the
n sweep (d = 2), ``speed.synthetic`` for the d sweep.
"""

import time

import numpy as np

from skjko import JKOFlowDensity

from ..toys import sample_toy
from .speed import synthetic


def _fit_and_score(X_fit, X_score, params):
    start = time.perf_counter()
    model = JKOFlowDensity(**params, random_state=0).fit(X_fit)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.score_samples(X_score)
    return fit_seconds, time.perf_counter() - start


def exponent(x, seconds):
    """Slope of log(seconds) against log(x), by least squares."""
    return float(np.polyfit(np.log(x), np.log(seconds), 1)[0])


def run(settings, data_dir=None):
    """Both sweeps; points and exponents."""
    params = settings["jko"]
    by_n = []
    for n in settings["n_values"]:
        fit_s, score_s = _fit_and_score(sample_toy("checkerboard", n, 0),
                                        sample_toy("checkerboard", n, 1), params)
        by_n.append(dict(n=n, fit_seconds=fit_s, score_seconds=score_s))
        print(f"scaling n={n}: fit {fit_s:.2f} s, score {score_s:.2f} s", flush=True)
    by_d = []
    for d in settings["d_values"]:
        fit_s, score_s = _fit_and_score(synthetic(settings["n_fit_d"], d),
                                        synthetic(settings["n_score_d"], d, seed=1), params)
        by_d.append(dict(d=d, fit_seconds=fit_s, score_seconds=score_s))
        print(f"scaling d={d}: fit {fit_s:.2f} s, score {score_s:.2f} s", flush=True)
    slopes = {f"{what}_vs_{axis}": exponent([p[axis] for p in points],
                                            [p[f"{what}_seconds"] for p in points])
              for axis, points in (("n", by_n), ("d", by_d)) for what in ("fit", "score")}
    print(f"scaling exponents: {slopes}", flush=True)
    return dict(by_n=by_n, by_d=by_d, exponents=slopes, params=params,
                n_fit_d=settings["n_fit_d"], n_score_d=settings["n_score_d"])
