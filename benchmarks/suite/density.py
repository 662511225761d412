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
(:class:`MassGrid`): its log-determinant is an RK4-integrated divergence,
which can overstate the map's volume change, and the NLL alone cannot show it.
On the toys a "truth" row gives the test NLL of the density the rows
were drawn from (``toys.toy_log_density``): where the models' NLLs would sit
with nothing left to learn, not a contender. On the toys every row, the truth's
too, also gets the mass its density puts off the data (:class:`MassGrid`):
mass m where the truth has almost none costs every test row −log(1 − m) nats,
which is where a flow loses to a mixture on rings and 2spirals (JOURNAL.md).
"""

import math

import numpy as np

from skjko import JKOFlowDensity

from ..common import box_grid, load_dataset, load_digits_density, timed, trapezoid_mass
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


#: The grid of :class:`MassGrid`.
MASS_GRID = dict(n_grid=401, margin=1.0)
#: "Off the data": where the true density is under this fraction of its peak on the grid.
OFF_DATA_FRACTION = 0.01


class MassGrid:
    """A fine grid around 2-D training rows ``X`` on which densities' masses are measured.

    Each density is scored once on :attr:`points`; :meth:`measure` gives its
    mass (about 1, a little less, when its NLL is an honest one) and, on toy
    ``name``, its mass off the data: where the true density (:attr:`log_truth`)
    is under ``OFF_DATA_FRACTION`` of its peak on the grid (the gaps between
    rings, say).
    """

    def __init__(self, name, X):
        self.xs, self.ys, self.points = box_grid(X, **MASS_GRID)
        self.shape = (len(self.ys), len(self.xs))
        self.log_truth = toy_log_density(name, self.points) if name in TOYS else None
        self.off_data = None if self.log_truth is None else (
            self.log_truth < np.log(OFF_DATA_FRACTION) + self.log_truth.max()).reshape(self.shape)

    def measure(self, log_density, total=False):
        """``{"mass": ..., "off_data_mass": ...}`` of a density given by its log on
        :attr:`points`: the mass with ``total``, the mass off the data on a toy."""
        density = np.exp(log_density).reshape(self.shape)
        masses = {}
        if total:
            masses["mass"] = float(trapezoid_mass(self.xs, self.ys, density))
        if self.off_data is not None:
            masses["off_data_mass"] = float(trapezoid_mass(
                self.xs, self.ys, np.where(self.off_data, density, 0.0)))
        return masses


def _row(name, method, model, info, seconds, X_test, grid=None, total_mass=False):
    """One contender's row; with ``grid``, its masses there (:meth:`MassGrid.measure`)."""
    nll = float(-np.mean(model.score_samples(X_test)))
    mmd = sample_mmd(model, X_test)
    print(f"  {name:12s} {method:10s} NLL {nll:9.4f}  MMD² {mmd:9.2e}  fit {seconds:7.1f} s  "
          f"{info}", flush=True)
    row = dict(dataset=name, method=method, nll=nll, mmd=mmd, fit_seconds=seconds, info=info)
    if grid is not None:
        row.update(grid.measure(model.score_samples(grid.points), total_mass))
    return row


def run_dataset(name, data_dir, settings, seed=0):
    """Fit every contender on one data set; one result row per contender."""
    X_train, X_test = load(name, data_dir, settings)
    print(f"density {name}: train {X_train.shape}, test {X_test.shape}", flush=True)
    rows = []
    # Masses on 2-D data: skjko's (its NLL's honesty) and, on a toy, everyone's off the data.
    grid = MassGrid(name, X_train) if X_train.shape[1] == 2 else None
    peer_grid = grid if name in TOYS else None
    jko, info, jko_seconds = timed(lambda: fit_skjko(X_train, settings["jko"], seed))
    rows.append(_row(name, "skjko", jko, info, jko_seconds, X_test, grid, total_mass=True))
    rows[-1].setdefault("mass", None)

    gmm, info, seconds = timed(lambda: peers.fit_gmm(X_train, settings["gmm_grid"], seed))
    rows.append(_row(name, "GMM", gmm, info, seconds, X_test, peer_grid))
    kde, info, seconds = timed(lambda: peers.fit_kde(X_train, settings["kde_bandwidths"],
                                                     settings["kde_cv_rows"], seed))
    rows.append(_row(name, "KDE", kde, info, seconds, X_test, peer_grid))

    budget = max(jko_seconds, settings["min_peer_seconds"])
    for kind in settings["peers"]:
        model, info = peers.train_zuko(kind, X_train, budget, seed=seed, **settings["zuko"])
        rows.append(_row(name, f"zuko {kind}", model, info, info["seconds"], X_test,
                         peer_grid))

    if settings["e2e_cnf"]:
        rows.append(_end_to_end_cnf(name, jko, X_train, X_test, budget, seed))
    for row in rows:
        row["budget_seconds"] = budget
    if name in TOYS:
        nll = float(-np.mean(toy_log_density(name, X_test)))
        print(f"  {name:12s} {TRUE_DENSITY:10s} NLL {nll:9.4f}", flush=True)
        rows.append(dict(dataset=name, method=TRUE_DENSITY, nll=nll, info={},
                         **grid.measure(grid.log_truth)))
    return rows


def _end_to_end_cnf(name, jko, X_train, X_test, seconds, seed):
    """skjko's own network trained end to end (``peers.train_cnf``) for ``seconds``.

    As many blocks as the JKO flow kept, same hidden sizes, RK4 steps, learning
    rate and batch size; no validation split, so the NLL reported is that of
    the last iterate (not the best one on test, which would peek at test data).
    """
    params = dict(hidden_sizes=tuple(jko.hidden_sizes), n_steps=jko.n_steps_,
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
