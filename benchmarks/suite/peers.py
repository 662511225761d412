"""The baselines skjko is compared with, each returning log-densities of the original X.

* :func:`fit_gmm`: ``GaussianMixture`` with ``n_components`` and ``covariance_type``
  chosen on a 10 % validation split, then refitted on all training rows.
* :func:`fit_kde`: ``KernelDensity`` on standardized rows with the bandwidth
  chosen by 3-fold ``GridSearchCV``.
* :func:`train_cnf`: skjko's blocks trained jointly by maximum likelihood (an
  end-to-end CNF of the JKO flow's network), the comparison JKO training must win.
* :func:`train_zuko`: zuko's MAF, NSF or CNF trained by maximum likelihood for
  at most a given wall time, keeping the iterate best on a validation split;
  with a ``context``, the conditional flow p(x | context).
"""

import copy
import itertools
import math
import time

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KernelDensity

from skjko import BlockFlow, HutchinsonTrace, ODEBlock, VelocityMLP, standard_normal_log_prob
from skjko.jko import minibatch_indices

from ..common import standardizer


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


class StandardizedKDE:
    """``KernelDensity`` fitted on standardized rows; ``score_samples`` in the original space."""

    def __init__(self, X, n_bandwidths, cv_rows, seed=0):
        self.mean_, self.scale_ = standardizer(X)
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


def epoch_steps(n_rows, batch_size):
    """Minibatch steps in one epoch of :func:`train_zuko` on ``n_rows`` rows: it trains on
    90 % of them (it validates on the other 10 %)."""
    return math.ceil(0.9 * n_rows / batch_size)


def train_zuko(kind, X, seconds, hidden, batch_size, eval_every, patience, lr=1e-3, seed=0,
               context=None, max_steps=None, on_check=None, max_grad_norm=1.0):
    """Train a zuko flow for at most ``seconds`` of wall time, validation included.

    Adam (lr 1e-3), minibatches of standardized training rows (skjko's own
    sampler, :func:`skjko.jko.minibatch_indices`), at most ``max_steps`` of them; every
    ``eval_every`` steps the validation NLL (10 % of X held out; exact trace for
    the CNF, which trains with one Hutchinson probe) decides the iterate kept.
    Stops after ``patience`` checks without improvement or when time is up.
    With ``context`` (n, q), the flow is the conditional density of X given it,
    the context standardized too. ``on_check(density, seconds, val_nll)``, when
    given, is called at every validation check with the flow as it stands (a
    :class:`ZukoDensity`, exact trace on), the training seconds so far and the
    check's validation NLL; its own time is left out of the clock and the budget.
    ``max_grad_norm`` clips each step's gradient norm; None trains unclipped, as
    zuko's users train these flows.

    Returns
    -------
    model : ZukoDensity
    info : dict
        steps, seconds, stop reason, best validation NLL (standardized space).
    """
    torch.manual_seed(seed)
    mean, scale = standardizer(X)
    U = ((X - mean) / scale).astype(np.float32)
    context_map = None if context is None else standardizer(context)
    C = None if context is None else ((context - context_map[0]) / context_map[1])
    fit_rows, val_rows = validation_split(len(U), seed=seed)
    U_fit, U_val = torch.from_numpy(U[fit_rows]), U[val_rows]
    C_fit, C_val = (None, None) if C is None else (_float32(C[fit_rows]), C[val_rows])
    flow = make_zuko(kind, U.shape[1], hidden, exact=False,
                     context=0 if C is None else C.shape[1])
    optimizer = torch.optim.Adam(flow.parameters(), lr=lr)
    batches = minibatch_indices(len(U_fit), batch_size, U_fit.device)
    best_state, best_val, bad, steps, stop = None, np.inf, 0, 0, "seconds"
    start = time.perf_counter()
    while True:
        flow.train()
        rows = next(batches)
        loss = -flow(None if C_fit is None else C_fit[rows]).log_prob(U_fit[rows]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(flow.parameters(), max_grad_norm)
        optimizer.step()
        steps += 1
        out_of_steps = max_steps is not None and steps >= max_steps
        out_of_budget = out_of_steps or time.perf_counter() - start >= seconds
        if steps % eval_every == 0 or out_of_budget:
            set_cnf_exact(flow, True)
            val = float(-zuko_log_prob(flow, U_val, C=C_val).mean())
            if on_check is not None:
                paused = time.perf_counter()
                on_check(ZukoDensity(flow, mean, scale, context_map), paused - start, val)
                start += time.perf_counter() - paused
            set_cnf_exact(flow, False)
            if np.isfinite(val) and val < best_val:
                best_val, best_state, bad = val, copy.deepcopy(flow.state_dict()), 0
            else:
                bad += 1
            if bad >= patience:
                stop = "validation"
                break
            if out_of_budget or time.perf_counter() - start >= seconds:
                stop = "max_steps" if out_of_steps else "seconds"
                break
    seconds_used = time.perf_counter() - start
    if best_state is not None:
        flow.load_state_dict(best_state)
    set_cnf_exact(flow, True)
    info = dict(steps=steps, seconds=round(seconds_used, 1), stop=stop,
                val_nll=round(best_val, 4))
    return ZukoDensity(flow, mean, scale, context_map), info


# ---------------------------------------------------------------------------------------
# skjko's own network trained end to end
# ---------------------------------------------------------------------------------------

@torch.no_grad()
def flow_log_density(flow, X, batch_size=1000):
    """Exact log-density (float64) of data rows ``X`` under ``flow`` (its input map included)."""
    flow = flow.double().eval()
    out = [flow.log_prob(torch.tensor(X[s:s + batch_size], dtype=torch.float64)).numpy()
           for s in range(0, X.shape[0], batch_size)]
    return np.concatenate(out)


# ---------------------------------------------------------------------------------------
# End-to-end CNF with the same network
# ---------------------------------------------------------------------------------------

def train_cnf(X_train, X_subset, input_map, n_blocks, params, target_nll, max_iter,
              max_seconds, eval_every, seed=0):
    """Train ``n_blocks`` fresh ODE blocks jointly by maximum likelihood.

    The blocks follow ``input_map`` (the JKO flow's fitted first layer), so
    both flows see the same rows and report densities in the data's space.
    Returns the evaluation trace and when (iterations, training seconds) the
    exact subset NLL first reached ``target_nll``. Training seconds exclude
    the evaluations, which are timed separately.
    """
    torch.manual_seed(seed)
    d = X_train.shape[1]
    flow = BlockFlow([ODEBlock(VelocityMLP(d, tuple(params["hidden_sizes"])), params["n_steps"])
                      for _ in range(n_blocks)], input_map=copy.deepcopy(input_map).cpu())
    optimizer = torch.optim.Adam(flow.parameters(), lr=params["learning_rate"])
    with torch.no_grad():
        X = flow.input_map(torch.tensor(X_train, dtype=torch.float64))[0].float()
    batch_size = params["batch_size"]

    def evaluate():
        start = time.perf_counter()
        nll = -flow_log_density(copy.deepcopy(flow), X_subset).mean()
        return float(nll), time.perf_counter() - start

    nll0, eval_seconds = evaluate()
    trace = [dict(iteration=0, seconds=0.0, nll=nll0)]
    reached = None
    train_seconds, iteration, batches = 0.0, 0, minibatch_indices(len(X), batch_size, X.device)
    losses = []
    stop = "iterations"
    while iteration < max_iter:
        start = time.perf_counter()
        batch = X[next(batches)]
        z, log_det = batch, 0.0
        for block in flow.blocks:
            z, int_div = block(z, HutchinsonTrace.rademacher(z))
            log_det = log_det + int_div
        loss = -(standard_normal_log_prob(z) + log_det).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(flow.parameters(), 1.0)
        optimizer.step()
        iteration += 1
        train_seconds += time.perf_counter() - start
        losses.append(loss.item())
        if iteration % eval_every == 0 or iteration == max_iter or train_seconds >= max_seconds:
            nll, seconds = evaluate()
            eval_seconds += seconds
            trace.append(dict(iteration=iteration, seconds=train_seconds, nll=nll,
                              train_loss=float(np.mean(losses[-eval_every:]))))
            if nll <= target_nll:
                reached = dict(iteration=iteration, seconds=train_seconds, nll=nll)
                stop = "reached"
                break
            if not math.isfinite(loss.item()):
                stop = "non-finite loss"
                break
            if train_seconds >= max_seconds:
                stop = "seconds"
                break
    best = min(trace, key=lambda r: r["nll"] if math.isfinite(r["nll"]) else math.inf)
    return dict(n_blocks=n_blocks, budget_iterations=max_iter, budget_seconds=max_seconds,
                eval_every=eval_every, iterations=iteration, train_seconds=train_seconds,
                eval_seconds=eval_seconds, stop=stop, reached=reached, best=best, trace=trace)
