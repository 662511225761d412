"""Density quality: test NLL (nats, original data space) of skjko against its peers.

Data sets: FFJORD's 2-D toys (``benchmarks/toys.py``), MINIBOONE (train
``miniboone/val.npy``, test ``miniboone/test.npy``) and scikit-learn's
``load_digits`` (see :func:`load_digits_density`). Every contender gets the
same training rows; NLL = minus the mean log-density of the test rows.
zuko's flows get the wall time of skjko's fit (at least ``min_peer_seconds``)
with early stopping on a validation split; skjko's own end-to-end CNF
(``peers.train_cnf``) gets the same. Every contender that samples
also gets the MMD² of its samples to the test rows (``sample_quality.py``).
On 2-D data skjko's row also gets its density's mass on a grid
(:func:`density_mass`): its log-determinant is an RK4-integrated divergence,
which can overstate the map's volume change, and the NLL alone cannot show it.
On the toys a "truth" row gives the test NLL of the density the rows
were drawn from (``toys.toy_log_density``): where the models' NLLs would sit
with nothing left to learn, not a contender. On the toys every row, the truth's
too, also gets the mass its density puts off the data (:func:`off_data_mass`):
mass m where the truth has almost none costs every test row −log(1 − m) nats,
which is where a flow loses to a mixture on rings and 2spirals (JOURNAL.md).
"""

import math

import numpy as np

from skjko import JKOFlowDensity

from ..common import box_grid, grid_mass, load_dataset, load_digits_density, timed
from ..toys import TOYS, toy_log_density
from . import peers
from .sample_quality import sample_mmd


#: The method name of a reference row: the density the test rows were drawn from
#: (the toys here; the conditional part's sine too).
TRUE_DENSITY = "truth"


def load(name, data_dir, settings):
    """Training and test rows of one data set under this suite's sizes."""
    if name == "digits":
        return load_digits_density()
    if name == "miniboone":
        X_train, X_test = load_dataset(name, data_dir, {})
        n_train = settings["n_train_miniboone"] or len(X_train)
        n_test = settings["n_test_miniboone"] or len(X_test)
        return X_train[:n_train], X_test[:n_test]
    n_train, n_test = settings["n_toy"]
    return load_dataset(name, data_dir, dict(n_train=n_train, n_test=n_test))


def fit_skjko(X, params, seed):
    """``JKOFlowDensity(**params, random_state=seed).fit(X)`` and a summary of the fit."""
    model = JKOFlowDensity(**params, random_state=seed).fit(X)
    return model, dict(n_blocks=model.n_blocks_, n_iter=model.n_iter_, stop=model.stop_reason_)


#: The grid of :func:`density_mass` and :func:`off_data_mass`.
MASS_GRID = dict(n_grid=401, margin=1.0)
#: "Off the data": where the true density is under this fraction of its peak on the grid.
OFF_DATA_FRACTION = 0.01


def density_mass(model, X):
    """On 2-D data, the mass of ``model``'s density on a fine grid around ``X``: about 1
    (a little less) when its NLL is an honest one; None elsewhere."""
    if X.shape[1] != 2:
        return None
    return float(grid_mass(model, X, **MASS_GRID))


class ToyDensity:
    """The density toy ``name``'s rows are drawn from, as a model: ``score_samples(X)``."""

    def __init__(self, name):
        self.name = name

    def score_samples(self, X):
        return toy_log_density(self.name, X)


def off_data_mass(name, X):
    """On toy ``name``, ``model -> mass``: the mass of ``model``'s density on
    :func:`density_mass`'s grid around ``X`` where the true density is under
    ``OFF_DATA_FRACTION`` of its peak there (the gaps between rings, say); None
    off the toys."""
    if name not in TOYS:
        return None
    xs, ys, grid = box_grid(X, **MASS_GRID)
    truth = toy_log_density(name, grid).reshape(len(ys), len(xs))
    off_data = truth < np.log(OFF_DATA_FRACTION) + truth.max()
    return lambda model: float(grid_mass(model, X, **MASS_GRID, where=off_data))


def _row(name, method, model, info, seconds, X_test, mass_off_data=None):
    nll = float(-np.mean(model.score_samples(X_test)))
    mmd = sample_mmd(model, X_test)
    print(f"  {name:12s} {method:10s} NLL {nll:9.4f}  MMD² {mmd:9.2e}  fit {seconds:7.1f} s  "
          f"{info}", flush=True)
    row = dict(dataset=name, method=method, nll=nll, mmd=mmd, fit_seconds=seconds, info=info)
    if mass_off_data is not None:
        row["off_data_mass"] = mass_off_data(model)
    return row


def run_dataset(name, data_dir, settings, seed=0):
    """Fit every contender on one data set; one result row per contender."""
    X_train, X_test = load(name, data_dir, settings)
    print(f"density {name}: train {X_train.shape}, test {X_test.shape}", flush=True)
    rows, mass_off_data = [], off_data_mass(name, X_train)
    jko, info, jko_seconds = timed(lambda: fit_skjko(X_train, settings["jko"], seed))
    rows.append(_row(name, "skjko", jko, info, jko_seconds, X_test, mass_off_data))
    rows[-1]["mass"] = density_mass(jko, X_train)

    gmm, info, seconds = timed(lambda: peers.fit_gmm(X_train, settings["gmm_grid"], seed))
    rows.append(_row(name, "GMM", gmm, info, seconds, X_test, mass_off_data))
    kde, info, seconds = timed(lambda: peers.fit_kde(X_train, settings["kde_bandwidths"],
                                                     settings["kde_cv_rows"], seed))
    rows.append(_row(name, "KDE", kde, info, seconds, X_test, mass_off_data))

    budget = max(jko_seconds, settings["min_peer_seconds"])
    for kind in settings["peers"]:
        model, info = peers.train_zuko(kind, X_train, budget, seed=seed, **settings["zuko"])
        rows.append(_row(name, f"zuko {kind}", model, info, info["seconds"], X_test,
                         mass_off_data))

    if settings["e2e_cnf"]:
        rows.append(_end_to_end_cnf(name, jko, X_train, X_test, budget, seed))
    for row in rows:
        row["budget_seconds"] = budget
    if name in TOYS:
        nll = float(-np.mean(toy_log_density(name, X_test)))
        print(f"  {name:12s} {TRUE_DENSITY:10s} NLL {nll:9.4f}", flush=True)
        rows.append(dict(dataset=name, method=TRUE_DENSITY, nll=nll, info={},
                         off_data_mass=mass_off_data(ToyDensity(name))))
    return rows


def _end_to_end_cnf(name, jko, X_train, X_test, seconds, seed):
    """skjko's own network trained end to end (``peers.train_cnf``) for ``seconds``.

    As many blocks as the JKO flow kept, same hidden sizes, RK4 steps, learning
    rate and batch size; no validation split, so the NLL reported is that of
    the last iterate (not the best one on test, which would peek at test data).
    """
    params = dict(hidden_sizes=tuple(jko.hidden_sizes), n_steps=jko._n_steps(),
                  learning_rate=jko.learning_rate, batch_size=jko.batch_size)
    result = peers.train_cnf(X_train, X_test, jko.flow_.input_map, jko.n_blocks_, params,
                       target_nll=-math.inf, max_iter=10**9, max_seconds=seconds,
                       eval_every=10**9, seed=seed)
    last = result["trace"][-1]
    info = dict(n_blocks=jko.n_blocks_, steps=result["iterations"], stop=result["stop"])
    print(f"  {name:12s} {'e2e CNF':10s} NLL {last['nll']:9.4f}  fit "
          f"{result['train_seconds']:7.1f} s  {info}", flush=True)
    return dict(dataset=name, method="e2e CNF (skjko net)", nll=last["nll"],
                fit_seconds=result["train_seconds"], info=info)


def run(settings, data_dir):
    """Every data set of ``settings``; returns the list of rows."""
    rows = []
    for name in settings["datasets"]:
        rows.extend(run_dataset(name, data_dir, settings))
    return rows
