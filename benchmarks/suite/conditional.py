"""Conditional density quality: test NLL of log p(y | x) for skjko against its peers.

Data sets:

* ``sine``: x ~ U(-3, 3), y | x ~ N(sin x, (0.1 + |x|/4)²), a heteroscedastic
  conditional whose true NLL is known (printed as the row "truth").
* ``diabetes``: scikit-learn's ``load_diabetes``, the disease progression y given
  the ten baseline variables x; a 70/30 split (``random_state=0``).
* ``miniboone``: MINIBOONE's last four columns given the other 39 (train
  ``val.npy``, test ``test.npy``).

Contenders, each fitted on the same training rows: ``JKOFlowConditionalDensity``
(the defaults and the suite's variants), zuko's conditional MAF and NSF (trained
for skjko's fit time, at least ``min_peer_seconds``, by the suite's one
maximum-likelihood loop, ``peers.train_zuko``), a ``GaussianProcessRegressor``
(RBF with one length scale per feature plus white noise, on at most
``gp_rows`` rows: its Gaussian predictive density), and the conditional of a
``GaussianMixture`` fitted to the rows (y, x) (components chosen on validation).
"""

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal, norm
from sklearn.datasets import load_diabetes
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel
from sklearn.model_selection import train_test_split

from skjko import JKOFlowConditionalDensity

from ..common import load_dataset, standardizer, timed
from . import peers
from .density import TRUE_DENSITY


def sine(n, seed):
    """Rows (x, y) of the heteroscedastic sine and the true log p(y | x) of each."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=n)
    spread = 0.1 + np.abs(x) / 4
    y = np.sin(x) + spread * rng.normal(size=n)
    return x[:, None], y[:, None], norm.logpdf(y, np.sin(x), spread)


def load(name, data_dir, settings):
    """(X_train, Y_train, X_test, Y_test, true test log-densities or None)."""
    if name == "sine":
        n_train, n_test = settings["n_sine"]
        X, Y, _ = sine(n_train, seed=0)
        X_test, Y_test, truth = sine(n_test, seed=1)
        return X, Y, X_test, Y_test, truth
    if name == "diabetes":
        X, y = load_diabetes(return_X_y=True)
        X, X_test, y, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
        return X, y[:, None], X_test, y_test[:, None], None
    if name == "miniboone":
        train, test = load_dataset(name, data_dir, {})
        n_train = settings["n_train_miniboone"] or len(train)
        train, test = train[:n_train], test[:settings["n_test_miniboone"] or len(test)]
        return train[:, :39], train[:, 39:], test[:, :39], test[:, 39:], None
    raise ValueError(f"unknown conditional data set {name!r}")


class GMMConditional:
    """log p(y | x) = log p(y, x) − log p(x) of a full-covariance mixture of the rows (y, x)."""

    def __init__(self, gmm, n_targets):
        self.gmm, self.n_targets = gmm, n_targets

    def score_samples(self, X, Y):
        joint = self.gmm.score_samples(np.hstack([Y, X]))
        return joint - self._context_log_density(X)

    def _context_log_density(self, X):
        gmm, p = self.gmm, self.n_targets
        covariances = gmm.covariances_
        if gmm.covariance_type == "diag":
            covariances = np.stack([np.diag(c) for c in covariances])
        return logsumexp([np.log(weight) + multivariate_normal.logpdf(X, mean[p:], cov[p:, p:])
                          for weight, mean, cov in zip(gmm.weights_, gmm.means_, covariances)],
                         axis=0)


def fit_gmm_conditional(X, Y, grid, seed=0):
    gmm, chosen = peers.fit_gmm(np.hstack([Y, X]), grid, seed)
    return GMMConditional(gmm, Y.shape[1]), chosen


class GaussianProcessConditional:
    """A GP regression's Gaussian predictive density, on standardized x and y."""

    def __init__(self, X, Y, n_rows, seed=0):
        rows = np.random.default_rng(seed).permutation(len(X))[:n_rows]
        self.x_map, self.y_map = standardizer(X), standardizer(Y)
        kernel = (ConstantKernel() * RBF(length_scale=np.ones(X.shape[1]))
                  + WhiteKernel(noise_level=0.1))
        self.gp = GaussianProcessRegressor(kernel, random_state=seed).fit(
            self._x(X[rows]), self._y(Y[rows]))

    def _x(self, X):
        return (X - self.x_map[0]) / self.x_map[1]

    def _y(self, Y):
        return (Y - self.y_map[0]) / self.y_map[1]

    def score_samples(self, X, Y):
        mean, std = self.gp.predict(self._x(X), return_std=True)
        mean, std = mean.reshape(len(X), -1), std.reshape(len(X), -1)
        return (norm.logpdf(self._y(Y), mean, std) - np.log(self.y_map[1])).sum(axis=1)


class ZukoConditional:
    """A conditional zuko flow (``peers.ZukoDensity`` of y with a context) scored as (X, Y)."""

    def __init__(self, model):
        self.model = model

    def score_samples(self, X, Y):
        return self.model.score_samples(Y, context=X)


def fit_gp_conditional(X, Y, n_rows, seed=0):
    model = GaussianProcessConditional(X, Y, n_rows, seed)
    return model, dict(rows=min(len(X), n_rows), kernel=str(model.gp.kernel_))


def fit_skjko(X, Y, params, seed):
    model = JKOFlowConditionalDensity(**params, random_state=seed).fit(X, Y)
    return model, dict(n_blocks=model.n_blocks_, n_iter=model.n_iter_, stop=model.stop_reason_,
                       noise_std=round(model.noise_std_, 4))


def _row(name, method, model, info, seconds, X_test, Y_test):
    nll = float(-np.mean(model.score_samples(X_test, Y_test)))
    print(f"  {name:10s} {method:18s} NLL {nll:9.4f}  fit {seconds:7.1f} s  {info}", flush=True)
    return dict(dataset=name, method=method, nll=nll, fit_seconds=seconds, info=info)


def run_dataset(name, data_dir, settings, seed=0):
    X, Y, X_test, Y_test, truth = load(name, data_dir, settings)
    print(f"conditional {name}: context {X.shape}, targets {Y.shape}, test {len(X_test)}",
          flush=True)
    rows = []
    if truth is not None:
        rows.append(dict(dataset=name, method=TRUE_DENSITY, nll=float(-truth.mean()),
                         fit_seconds=0.0, info={}))
    budget = settings["min_peer_seconds"]
    for method, overrides in settings["jko"].items():
        model, info, seconds = timed(lambda: fit_skjko(X, Y, overrides, seed))
        rows.append(_row(name, method, model, info, seconds, X_test, Y_test))
        budget = max(budget, seconds)
    for kind in settings["peers"]:
        model, info = peers.train_zuko(kind, Y, budget, seed=seed, context=X, **settings["zuko"])
        rows.append(_row(name, f"zuko c{kind}", ZukoConditional(model), info, info["seconds"],
                         X_test, Y_test))
    model, info, seconds = timed(lambda: fit_gmm_conditional(X, Y, settings["gmm_grid"], seed))
    rows.append(_row(name, "GMM conditional", model, info, seconds, X_test, Y_test))
    model, info, seconds = timed(lambda: fit_gp_conditional(X, Y, settings["gp_rows"], seed))
    rows.append(_row(name, "GP regression", model, info, seconds, X_test, Y_test))
    return rows


def run(settings, data_dir):
    """Every data set of ``settings``; returns the list of rows."""
    rows = []
    for name in settings["datasets"]:
        rows.extend(run_dataset(name, data_dir, settings))
    return rows
