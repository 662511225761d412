"""Small training sets: test NLL with early stopping on against off.

For each data set (ODDS normal rows or any set :func:`benchmarks.common.load_any`
loads), draws ``sizes`` training rows (seed 0) and fits the defaults
(``random_state=0``, updated by the settings' ``jko``) with ``early_stopping=True`` (10 % validation rows) and
``early_stopping=False``, scoring the whole test part; a diagonal Gaussian
fitted on the same rows is the reference. This is the measurement behind
``early_stopping='auto'``:

    python -m benchmarks run --suite full --parts small_data --datasets pima wbc
"""

import time

import numpy as np
from sklearn.mixture import GaussianMixture

from skjko import JKOFlowDensity

from ..common import load_any


def run(settings, data_dir):
    """One row per data set, size and early-stopping setting (and the Gaussian's)."""
    rows = []
    for name in settings["datasets"]:
        X_train, X_test = load_any(name, data_dir, settings["n_toy"])
        for n in settings["sizes"]:
            subset = np.random.default_rng(0).choice(len(X_train), size=min(n, len(X_train)),
                                                     replace=False)
            for early_stopping in (True, False):
                start = time.perf_counter()
                model = JKOFlowDensity(**settings["jko"], random_state=0,
                                       early_stopping=early_stopping).fit(X_train[subset])
                nll = -model.score_samples(X_test)
                rows.append(dict(dataset=name, n=len(subset), model=f"ES={early_stopping}",
                                 nll=float(nll.mean()), median_nll=float(np.median(nll)),
                                 n_blocks=model.n_blocks_,
                                 seconds=time.perf_counter() - start))
            gaussian = GaussianMixture(1, covariance_type="diag", random_state=0).fit(
                X_train[subset])
            nll = -gaussian.score_samples(X_test)
            rows.append(dict(dataset=name, n=len(subset), model="diagonal Gaussian",
                             nll=float(nll.mean()), median_nll=float(np.median(nll))))
            print(table(rows[-3:]), flush=True)
    return rows


def table(rows):
    lines = ["| data set | rows | model | test NLL | median NLL | blocks | s |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['n']} | {r['model']} | {r['nll']:.4g} | "
              f"{r['median_nll']:.4g} | {r.get('n_blocks', '')} | "
              f"{format(r['seconds'], '.0f') if 'seconds' in r else ''} |" for r in rows]
    return "\n".join(lines)
