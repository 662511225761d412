"""The baselines skjko is compared with, each returning log-densities of the original X.

* :func:`fit_gmm`: ``GaussianMixture`` with ``n_components`` and ``covariance_type``
  chosen on a 10 % validation split, then refitted on all training rows.
* :func:`fit_kde`: ``KernelDensity`` on standardized rows with the bandwidth
  chosen by 3-fold ``GridSearchCV``.
* :func:`train_zuko`: zuko's MAF, NSF or CNF trained by maximum likelihood for
  at most a given wall time, keeping the iterate best on a validation split;
  with a ``context``, the conditional flow p(x | context).
"""

import copy
import itertools
import time

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity


def validation_split(n, fraction=0.1, seed=0):
    """Indices (train, validation) of a seeded random split of ``n`` rows."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fraction * n)))
    return order[n_val:], order[:n_val]


def fit_gmm(X, grid, seed=0):
    """``GaussianMixture`` with the grid point best on a validation split, refitted on all of X.

    Returns the fitted model and the chosen parameters.
    """
    fit_rows, val_rows = validation_split(len(X), seed=seed)
    best, best_score = None, -np.inf
    for k, cov in itertools.product(grid["n_components"], grid["covariance_type"]):
        if k > len(fit_rows):
            continue
        gmm = GaussianMixture(k, covariance_type=cov, random_state=seed).fit(X[fit_rows])
        score = gmm.score(X[val_rows])
        if score > best_score:
            best, best_score = dict(n_components=k, covariance_type=cov), score
    return GaussianMixture(**best, random_state=seed).fit(X), best


def _standardizer(X):
    """Per-column mean and std of ``X`` (std 1 for constant columns)."""
    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


class StandardizedKDE:
    """``KernelDensity`` fitted on standardized rows; ``score_samples`` in the original space."""

    def __init__(self, X, n_bandwidths, cv_rows, seed=0):
        self.mean_, self.scale_ = _standardizer(X)
        U = (X - self.mean_) / self.scale_
        # The CV search runs on at most cv_rows rows: KDE scoring is O(n_train · n_test).
        subset = np.random.default_rng(seed).permutation(len(U))[:cv_rows]
        search = GridSearchCV(KernelDensity(),
                              {"bandwidth": np.logspace(-1.5, 0.5, n_bandwidths)}, cv=3)
        search.fit(U[subset])
        self.bandwidth_ = float(search.best_params_["bandwidth"])
        self.kde_ = KernelDensity(bandwidth=self.bandwidth_).fit(U)

    def score_samples(self, X):
        U = (X - self.mean_) / self.scale_
        return self.kde_.score_samples(U) - np.log(self.scale_).sum()

    def sample(self, n, random_state=None):
        return self.kde_.sample(n, random_state=random_state) * self.scale_ + self.mean_


def fit_kde(X, n_bandwidths, cv_rows, seed=0):
    """:class:`StandardizedKDE` and its chosen bandwidth (in standardized units)."""
    kde = StandardizedKDE(X, n_bandwidths, cv_rows, seed)
    return kde, dict(bandwidth=float(f"{kde.bandwidth_:.4g}"))


# ---------------------------------------------------------------------------------------
# zuko flows
# ---------------------------------------------------------------------------------------

def make_zuko(kind, d, hidden, exact=True, context=0):
    """A zuko flow: MAF or NSF (5 transforms, two hidden layers of ``hidden``) or CNF.

    The CNF gets three hidden layers of ``hidden`` (skjko's default velocity
    has three of 128) and zuko's own solver: adaptive Dormand–Prince,
    atol 1e-6, rtol 1e-5, time embedding with 3 frequencies. ``context``: the
    number of conditioning features (0 for an unconditional flow).
    """
    import zuko

    if kind == "MAF":
        return zuko.flows.MAF(d, context, transforms=5, hidden_features=(hidden, hidden))
    if kind == "NSF":
        return zuko.flows.NSF(d, context, transforms=5, hidden_features=(hidden, hidden))
    if kind == "CNF":
        return zuko.flows.CNF(d, context, hidden_features=(hidden,) * 3, exact=exact)
    raise ValueError(kind)


def set_cnf_exact(flow, exact):
    """Switch a zuko CNF between its exact trace and one Hutchinson probe."""
    from zuko.flows.continuous import FFJTransform

    for module in flow.modules():
        if isinstance(module, FFJTransform):
            module.exact = exact


def _float32(rows):
    return None if rows is None else torch.as_tensor(rows, dtype=torch.float32)


@torch.no_grad()
def zuko_log_prob(flow, U, batch_size=1000, C=None):
    """log q(u | c) of standardized rows ``U`` (and contexts ``C``) under a zuko flow, in chunks.

    float64 out; ``C`` None for an unconditional flow.
    """
    flow.eval()
    chunk = lambda A, s: None if A is None else _float32(A[s:s + batch_size])  # noqa: E731
    out = [flow(chunk(C, s)).log_prob(chunk(U, s)) for s in range(0, len(U), batch_size)]
    return torch.cat(out).double().numpy()


class ZukoDensity:
    """A trained zuko flow on standardized rows; ``score_samples`` in the original space.

    ``context_map`` (mean, scale) standardizes the context of a conditional flow.
    """

    def __init__(self, flow, mean, scale, context_map=None):
        self.flow, self.mean_, self.scale_ = flow, mean, scale
        self.context_map = context_map

    def score_samples(self, X, context=None):
        C = None if context is None else (context - self.context_map[0]) / self.context_map[1]
        U = (X - self.mean_) / self.scale_
        return zuko_log_prob(self.flow, U, C=C) - np.log(self.scale_).sum()

    @torch.no_grad()
    def sample(self, n, random_state=0):
        with torch.random.fork_rng():
            torch.manual_seed(random_state)
            U = self.flow().sample((n,)).double().numpy()
        return U * self.scale_ + self.mean_


def train_zuko(kind, X, seconds, hidden, batch_size, eval_every, patience, lr=1e-3, seed=0,
               context=None):
    """Train a zuko flow for at most ``seconds`` of wall time, validation included.

    Adam (lr 1e-3), minibatches of standardized training rows; every
    ``eval_every`` steps the validation NLL (10 % of X held out; exact trace for
    the CNF, which trains with one Hutchinson probe) decides the iterate kept.
    Stops after ``patience`` checks without improvement or when time is up.
    With ``context`` (n, q), the flow is the conditional density of X given it,
    the context standardized too.

    Returns
    -------
    model : ZukoDensity
    info : dict
        steps, seconds, stop reason, best validation NLL (standardized space).
    """
    torch.manual_seed(seed)
    mean, scale = _standardizer(X)
    U = ((X - mean) / scale).astype(np.float32)
    context_map = None if context is None else _standardizer(context)
    C = None if context is None else ((context - context_map[0]) / context_map[1])
    fit_rows, val_rows = validation_split(len(U), seed=seed)
    U_fit, U_val = torch.from_numpy(U[fit_rows]), U[val_rows]
    C_fit, C_val = (None, None) if C is None else (_float32(C[fit_rows]), C[val_rows])
    flow = make_zuko(kind, U.shape[1], hidden, exact=False,
                     context=0 if C is None else C.shape[1])
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    best_state, best_val, bad, steps, stop = None, np.inf, 0, 0, "seconds"
    start = time.perf_counter()
    while True:
        flow.train()
        rows = rng.integers(0, len(U_fit), batch_size)
        loss = -flow(None if C_fit is None else C_fit[rows]).log_prob(U_fit[rows]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 1.0)
        optimizer.step()
        steps += 1
        out_of_time = time.perf_counter() - start >= seconds
        if steps % eval_every == 0 or out_of_time:
            set_cnf_exact(flow, True)
            val = float(-zuko_log_prob(flow, U_val, C=C_val).mean())
            set_cnf_exact(flow, False)
            if np.isfinite(val) and val < best_val:
                best_val, best_state, bad = val, copy.deepcopy(flow.state_dict()), 0
            else:
                bad += 1
            if bad >= patience:
                stop = "validation"
                break
            if out_of_time or time.perf_counter() - start >= seconds:
                break
    seconds_used = time.perf_counter() - start
    if best_state is not None:
        flow.load_state_dict(best_state)
    set_cnf_exact(flow, True)
    return ZukoDensity(flow, mean, scale, context_map), dict(steps=steps, seconds=round(seconds_used, 1),
                                                stop=stop, val_nll=round(best_val, 4))
