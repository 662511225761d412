"""Scoring speed: rows per second of exact log-densities at several d.

Three ways to get the same kind of number (an exact log-density per row):

* ``skjko``: ``JKOFlowDensity.score_samples`` (float64, chunks of
  ``batch_size`` rows, whatever exact-trace path skjko uses by default);
* ``loop``: the SAME fitted flow through
  ``flow_.log_prob(X, AutogradTrace())``, one autograd VJP per dimension
  (float64, same chunks, ``torch.no_grad``);
* ``zuko CNF``: ``zuko.flows.CNF`` with its exact trace (float32, zuko's
  adaptive Dormand–Prince solver, atol 1e-6, rtol 1e-5), three hidden layers
  of 128, trained as briefly as the skjko flow, same chunks.

Neither network is converged: the skjko flow (default velocity (128, 128,
128), 2 blocks, 3 RK4 steps) is fitted for ``fit_iter`` steps a block on
synthetic data. Velocity evaluations (NFE) per chunk are counted with forward
hooks on zuko's MLP (skjko's is fixed: 4 per RK4 step per block), because
the adaptive solver's cost depends on how the trained field looks.
"""

import math
import time

import numpy as np
import torch
import zuko

from skjko import AutogradTrace, JKOFlowDensity

from ..common import input_rows
from . import peers
from .config import SPEED_JKO


def synthetic(n, d, seed=0):
    """``n`` rows of a fixed non-Gaussian law in d dimensions: a 4-component mixture, skewed."""
    rng = np.random.default_rng([seed, d])
    centers = rng.normal(scale=2.0, size=(4, d))
    X = centers[rng.integers(0, 4, n)] + rng.standard_normal((n, d))
    return X + 0.3 * X**2 / (1 + np.abs(X))


def fit_brief(d, n_fit, fit_iter, seed=0, hidden_sizes=None):
    """2 blocks of skjko's default network (or ``hidden_sizes``), ``fit_iter`` steps a block.

    The weights are not converged; only the cost of the network matters here.
    """
    params = dict(SPEED_JKO, hidden_sizes=hidden_sizes or SPEED_JKO["hidden_sizes"])
    return JKOFlowDensity(**params, max_iter=fit_iter, random_state=seed).fit(
        synthetic(n_fit, d, seed))


class CallCounter:
    """Counts forward calls of the modules of one type inside ``root``."""

    def __init__(self, root, module_type):
        self.calls = 0
        self.handles = [m.register_forward_hook(self._hook) for m in root.modules()
                        if isinstance(m, module_type)]

    def _hook(self, *args):
        self.calls += 1

    def remove(self):
        for handle in self.handles:
            handle.remove()


def loop_log_prob(model, X):
    """The naive exact log-density: per-dimension autograd loop on the fitted skjko flow."""
    flow = model.flow_
    with torch.no_grad():
        return np.concatenate([
            flow.log_prob(torch.tensor(X[s:s + model.batch_size], dtype=torch.float64),
                          AutogradTrace()).numpy()
            for s in range(0, len(X), model.batch_size)])


def rows_per_second(function, n_rows, repeats):
    """Median over ``repeats`` of n_rows / seconds of one call of ``function``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return n_rows / float(np.median(times)), times


def measure_d(d, settings, hidden_sizes=None):
    """Throughput of the three scorers at one d; one result dict."""
    n_rows, repeats = settings["n_rows"], settings["repeats"]
    start = time.perf_counter()
    model = fit_brief(d, settings["n_fit"], settings["fit_iter"], hidden_sizes=hidden_sizes)
    fit_seconds = time.perf_counter() - start
    X = synthetic(n_rows, d, seed=1)
    U = input_rows(model, X)  # zuko's CNF is trained and scored in the flow's input space
    # Briefly trained (the suite's one maximum-likelihood loop): only its cost matters here.
    zuko_model, _ = peers.train_zuko("CNF", input_rows(model, synthetic(settings["n_fit"], d)),
                                     math.inf, hidden=128, batch_size=1000,
                                     eval_every=settings["zuko_iter"], patience=1,
                                     max_steps=settings["zuko_iter"])
    zuko_flow = zuko_model.flow
    result = dict(d=d, n_rows=n_rows, fit_seconds=fit_seconds, n_blocks=model.n_blocks_,
                  exact_path=_exact_paths(model))
    contenders = dict(skjko=lambda: model.score_samples(X),
                      loop=lambda: loop_log_prob(model, X),
                      zuko_cnf=lambda: zuko_model.score_samples(U))
    # skjko's NFE is fixed: 4 velocity evaluations per RK4 step; zuko's is counted.
    rk4_nfe = 4 * sum(block.n_steps for block in model.flow_.blocks)
    values = {}
    for name, function in contenders.items():
        counter = CallCounter(zuko_flow, zuko.nn.MLP)
        values[name] = function()  # warm-up, and the values compared below
        nfe = counter.calls / -(-n_rows // 1000) if name == "zuko_cnf" else rk4_nfe
        counter.remove()
        rate, times = rows_per_second(function, n_rows, repeats)
        result[name] = dict(rows_per_second=rate, seconds=times, nfe_per_chunk=nfe)
    # The loop and the default path must agree: same flow, same numbers.
    result["max_abs_diff_skjko_vs_loop"] = float(np.max(np.abs(values["skjko"] - values["loop"])))
    result["ratio_vs_zuko"] = result["skjko"]["rows_per_second"] / result["zuko_cnf"][
        "rows_per_second"]
    result["ratio_vs_loop"] = result["skjko"]["rows_per_second"] / result["loop"][
        "rows_per_second"]
    print(f"speed d={d}, net {model.hidden_sizes}: skjko "
          f"{result['skjko']['rows_per_second']:.0f} rows/s, loop "
          f"{result['loop']['rows_per_second']:.0f}, zuko CNF "
          f"{result['zuko_cnf']['rows_per_second']:.0f} (NFE/chunk "
          f"{result['zuko_cnf']['nfe_per_chunk']:.0f} vs skjko "
          f"{result['skjko']['nfe_per_chunk']:.0f}); x{result['ratio_vs_zuko']:.2f} vs zuko, "
          f"x{result['ratio_vs_loop']:.2f} vs loop", flush=True)
    return result


def profile_scoring(d, n_fit, fit_iter, n_rows, row_limit=15):
    """torch.profiler's top ops (by self CPU time) of ``score_samples`` on n_rows rows."""
    from torch.profiler import ProfilerActivity, profile

    model = fit_brief(d, n_fit, fit_iter)
    X = synthetic(n_rows, d, seed=1)
    model.score_samples(X[:10])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model.score_samples(X)
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=row_limit)


def run(settings, data_dir=None):
    """Throughput at every d of the suite (and other nets at ``profile_d``), then a profile."""
    results = [measure_d(d, settings) for d in settings["dims"]]
    results += [measure_d(settings["profile_d"], settings, tuple(hidden))
                for hidden in settings.get("other_nets", ())]
    table = profile_scoring(settings["profile_d"], settings["n_fit"], settings["fit_iter"],
                            settings["profile_rows"])
    print(table, flush=True)
    return dict(throughput=results, profile=dict(d=settings["profile_d"],
                                                 rows=settings["profile_rows"], table=table))


def _exact_paths(model):
    """Which exact trace ``score_samples`` uses for this model's velocity (read from skjko)."""
    velocity = model.flow_.blocks[0].velocity
    return dict(closed_form=bool(getattr(velocity, "has_closed_form_divergence", False)),
                hidden_sizes=list(model.hidden_sizes))
