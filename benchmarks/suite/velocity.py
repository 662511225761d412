"""The two velocity fields side by side: JKO-iFlow's MLP against OT-Flow's potential.

    python -m benchmarks run --suite full --parts velocity [--datasets 8gaussians miniboone]

For each data set (toys: ``toy_run``'s training and test rows; MINIBOONE trained
on ``miniboone/val.npy`` and tested on ``miniboone/test.npy``),
``JKOFlowDensity(velocity='mlp')`` and ``JKOFlowDensity(velocity='potential')``
are fitted with the same settings (``toy_fit`` or ``miniboone_fit`` in
:mod:`.config`, updated by ``overrides``) and the same ``hidden_sizes``, which
gives the two about the same number of parameters. ``n_steps`` is left at
'auto' (3 RK4 steps for the MLP, 8 for the potential) unless a setting sets it.

Reported per model: test NLL (= -score, nats, original space; lower is
better), n_blocks_, n_iter_, parameters, fit wall time, seconds per optimizer
step (fit time / n_iter_, validation and bookkeeping included), and the
throughput of ``score_samples`` (exact log-likelihood) on ``n_throughput``
test rows, timed (best of ``repeats``) after a warm-up call.

A fit that runs past ``max_fit_seconds`` is interrupted (SIGALRM raises
KeyboardInterrupt, which ``fit`` turns into a usable model of the finished
blocks, ``stop_reason_ == 'interrupted'``); the table says so.
"""

import math
import signal
import time
import warnings

import numpy as np

from skjko import JKOFlowDensity

from ..common import load_dataset


class _FitTimeout:
    """Raise KeyboardInterrupt after ``seconds`` (``fit`` keeps the finished blocks)."""

    def __init__(self, seconds):
        self.seconds = seconds

    def _fire(self, signum, frame):
        raise KeyboardInterrupt

    def __enter__(self):
        self.previous = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self.previous)
        return False


def fit_one(params, velocity, X_train, X_test, run):
    model = JKOFlowDensity(velocity=velocity, **params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        with _FitTimeout(run["max_fit_seconds"]):
            model.fit(X_train)
        fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    test_scores = model.score_samples(X_test)
    score_all_seconds = time.perf_counter() - start
    test_nll = float(-np.mean(test_scores))
    score_nll = float(-model.score(X_test))
    if math.isfinite(test_nll) and not math.isclose(test_nll, score_nll, rel_tol=0,
                                                    abs_tol=1e-8):
        raise RuntimeError(f"-mean(score_samples) {test_nll} != -score {score_nll}")

    X_tp = X_test[:run["n_throughput"]]
    model.score_samples(X_tp[:min(100, len(X_tp))])  # warm-up
    times = []
    for _ in range(run["repeats"]):
        start = time.perf_counter()
        model.score_samples(X_tp)
        times.append(time.perf_counter() - start)
    n_params = sum(p.numel() for p in model.flow_.parameters())
    n_params_block = n_params // max(model.n_blocks_, 1)
    rounds = {}
    for row in model.history_:
        rounds.setdefault(row["round"], []).append(row["n_iter"])
    return dict(velocity=velocity, n_steps=model.flow_.blocks[0].n_steps
                if hasattr(model.flow_.blocks[0], "n_steps") else None,
                test_nll=test_nll, train_nll=float(-model.score(X_train)),
                n_blocks=model.n_blocks_, n_iter=model.n_iter_, stop_reason=model.stop_reason_,
                step_sizes=[float(h) for h in model.step_sizes_],
                fit_seconds=fit_seconds,
                seconds_per_iter=fit_seconds / max(model.n_iter_, 1),
                n_params_per_block=int(n_params_block),
                score_rows=len(X_tp), score_seconds=min(times),
                rows_per_second=len(X_tp) / min(times),
                score_all_seconds=score_all_seconds,
                iters_per_round={k: v for k, v in rounds.items()},
                history=[{k: (float(v) if isinstance(v, (np.floating, float)) else v)
                          for k, v in row.items()} for row in model.history_],
                warnings=[str(w.message) for w in caught])


def run(settings, data_dir):
    """One result per data set: the settings it ran with and one row per velocity."""
    results = []
    for name in settings["datasets"]:
        is_toy = name != "miniboone"
        params = dict(settings["toy_fit" if is_toy else "miniboone_fit"],
                      **settings["overrides"])
        run = settings["toy_run" if is_toy else "miniboone_run"]
        X_train, X_test = load_dataset(name, data_dir, run)
        print(f"\n## {name}: train {X_train.shape}, test {X_test.shape}", flush=True)
        models = []
        for velocity in settings["velocities"]:
            r = fit_one(params, velocity, X_train, X_test, run)
            print(f"{velocity}: test NLL {r['test_nll']:.4f}, {r['n_blocks']} blocks, "
                  f"{r['n_iter']} iterations {r['iters_per_round']}, fit "
                  f"{r['fit_seconds']:.1f} s ({r['seconds_per_iter']:.3f} s/iter), score "
                  f"{r['rows_per_second']:.0f} rows/s, {r['n_params_per_block']} params/block, "
                  f"stop {r['stop_reason']}"
                  + (f", warnings {r['warnings']}" if r["warnings"] else ""), flush=True)
            models.append(r)
        results.append(dict(name=name, params=params, run=run, n_train=len(X_train),
                            n_test=len(X_test), models=models))
    return results


def table(results):
    lines = ["| data set | velocity | RK4 steps | params/block | test NLL | n_blocks_ | n_iter_ "
             "| fit s | s/iter | score_samples rows/s | stop |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for res in results:
        for m in res["models"]:
            lines.append(f"| {res['name']} | {m['velocity']} | {m['n_steps']} | "
                         f"{m['n_params_per_block']} | {m['test_nll']:.3f} | {m['n_blocks']} | "
                         f"{m['n_iter']} | {m['fit_seconds']:.1f} | {m['seconds_per_iter']:.3f} | "
                         f"{m['rows_per_second']:.0f} | {m['stop_reason']} |")
    return "\n".join(lines)
