"""The two velocity fields side by side: JKO-iFlow's MLP against OT-Flow's potential.

Run: python -m benchmarks.bench_velocity --data-dir ../shared/data --out benchmarks/results
     [--datasets 8gaussians checkerboard 2spirals miniboone] [--quick] [--tables-only]

For each data set (three FFJORD toys, 10 000 training and 10 000 test points
drawn with ``sample_toy`` and ``numpy`` Generators; MINIBOONE trained on
``miniboone/val.npy`` and tested on ``miniboone/test.npy``),
``JKOFlowDensity(velocity='mlp')`` and ``JKOFlowDensity(velocity='potential')``
are fitted with the same settings (n_blocks cap, max_iter, batch_size,
learning rate, early stopping, one reparametrization round, random_state=0)
and the same ``hidden_sizes``, which gives the two about the same number of
parameters (printed). ``n_steps`` is left at 'auto' (3 RK4 steps for the MLP,
8 for the potential) unless a configuration below sets it.

Reported per model: test NLL (= -score, nats, original space; lower is
better), n_blocks_, n_iter_, parameters, fit wall time, seconds per optimizer
step (fit time / n_iter_, validation and bookkeeping included), and the
throughput of ``score_samples`` (exact log-likelihood) on ``n_throughput``
test rows, timed (best of ``repeats``) after a warm-up call.

A fit that runs past ``max_fit_seconds`` is interrupted (SIGALRM raises
KeyboardInterrupt, which ``fit`` turns into a usable model of the finished
blocks, ``stop_reason_ == 'interrupted'``); the table says so.

``--tol`` overrides the configurations' ``tol`` for a variant run, labelled
by ``--tag`` (e.g. ``--velocities potential --tol 0 --tag tol0``).

Results: ``velocity_<name>[_<tag>][_quick].json`` in ``--out`` and a markdown
table on stdout. ``--tables-only`` re-prints one table from all the JSON files
in ``--out`` (every tag) for ``--datasets``.
"""

import argparse
import json
import math
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from skjko import JKOFlowDensity

from .common import load_dataset, machine_info

TOY_NAMES = ("8gaussians", "checkerboard", "2spirals")
DATASETS = (*TOY_NAMES, "miniboone")
VELOCITIES = ("mlp", "potential")

# ---------------------------------------------------------------------------------------
# Configurations (shared by both velocities of a data set)
# ---------------------------------------------------------------------------------------

TOY_FIT = dict(hidden_sizes=(64, 64), n_blocks=3, max_iter=100, batch_size=1000,
               learning_rate=5e-3, h=1.0, h_growth=1.4, h_max=5.0, tol=0.01,
               early_stopping=True, validation_fraction=0.1, validation_interval=25,
               n_iter_no_change=5, n_blocks_no_change=1, n_reparam=1, eta=0.5, n_refine=0,
               n_steps="auto", device="cpu", random_state=0)
MINIBOONE_FIT = dict(TOY_FIT, hidden_sizes=(64, 64), n_blocks=2, max_iter=125,
                     learning_rate=2e-3)
TOY_RUN = dict(n_train=10000, n_test=10000, n_throughput=2000, repeats=3,
               max_fit_seconds=420.0)
MINIBOONE_RUN = dict(n_throughput=2000, repeats=2, max_fit_seconds=1050.0)

QUICK_TOY_FIT = dict(TOY_FIT, hidden_sizes=(16, 16), n_blocks=2, max_iter=10,
                     validation_interval=5)
QUICK_MINIBOONE_FIT = dict(MINIBOONE_FIT, hidden_sizes=(16, 16), n_blocks=2, max_iter=5,
                           validation_interval=5)
QUICK_TOY_RUN = dict(n_train=1000, n_test=1000, n_throughput=500, repeats=1,
                     max_fit_seconds=20.0)
QUICK_MINIBOONE_RUN = dict(n_train=800, n_test=400, n_throughput=200, repeats=1,
                           max_fit_seconds=20.0)


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


def run_dataset(name, data_dir, quick, out_dir, velocities, overrides=None, tag=""):
    is_toy = name != "miniboone"
    params = dict((QUICK_TOY_FIT if quick else TOY_FIT) if is_toy
                  else (QUICK_MINIBOONE_FIT if quick else MINIBOONE_FIT))
    run = dict((QUICK_TOY_RUN if quick else TOY_RUN) if is_toy
               else (QUICK_MINIBOONE_RUN if quick else MINIBOONE_RUN))
    params.update(overrides or {})
    X_train, X_test = load_dataset(name, data_dir, run)
    print(f"\n## {name}{' ' + tag if tag else ''}: train {X_train.shape}, test {X_test.shape}", flush=True)
    models = []
    for velocity in velocities:
        r = fit_one(params, velocity, X_train, X_test, run)
        print(f"{velocity}: test NLL {r['test_nll']:.4f}, {r['n_blocks']} blocks, "
              f"{r['n_iter']} iterations {r['iters_per_round']}, fit {r['fit_seconds']:.1f} s "
              f"({r['seconds_per_iter']:.3f} s/iter), score {r['rows_per_second']:.0f} rows/s, "
              f"{r['n_params_per_block']} params/block, stop {r['stop_reason']}"
              + (f", warnings {r['warnings']}" if r["warnings"] else ""), flush=True)
        models.append(r)
    result = dict(name=name, tag=tag, overrides=overrides or {}, quick=quick, machine=machine_info(),
                  params={k: (list(v) if isinstance(v, tuple) else v)
                          for k, v in params.items()},
                  run=run, n_train=len(X_train), n_test=len(X_test), models=models)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"velocity_{name}{'_' + tag if tag else ''}{'_quick' if quick else ''}.json"
    path.write_text(json.dumps(result, indent=1, default=float))
    return result


def print_table(results):
    print("\n| data set | velocity | RK4 steps | params/block | test NLL | n_blocks_ | n_iter_ "
          "| fit s | s/iter | score_samples rows/s | stop |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for res in results:
        for m in res["models"]:
            label = m["velocity"] + (f" ({res['tag']})" if res.get("tag") else "")
            print(f"| {res['name']} | {label} | {m['n_steps']} | "
                  f"{m['n_params_per_block']} | {m['test_nll']:.3f} | {m['n_blocks']} | "
                  f"{m['n_iter']} | {m['fit_seconds']:.1f} | {m['seconds_per_iter']:.3f} | "
                  f"{m['rows_per_second']:.0f} | {m['stop_reason']} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--velocities", nargs="+", default=list(VELOCITIES),
                        choices=VELOCITIES)
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (< 2 minutes)")
    parser.add_argument("--tol", type=float, default=None,
                        help="override the configurations' tol (0 grows to the n_blocks cap)")
    parser.add_argument("--tag", default="",
                        help="label of this variant, in the JSON file names and the table")
    parser.add_argument("--tables-only", action="store_true",
                        help="re-print the table from the JSON files in --out")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    out_dir = Path(args.out)
    if args.tables_only:
        results = []
        for n in args.datasets:
            for path in sorted(out_dir.glob(f"velocity_{n}*.json")):
                res = json.loads(path.read_text())
                if res["name"] == n and res["quick"] == args.quick:
                    results.append(res)
        results.sort(key=lambda r: (args.datasets.index(r["name"]), r.get("tag", "")))
        print_table(results)
        return
    info = machine_info()
    print(f"CPU {info['cpu']} ({info['logical_cpus']} logical CPUs), torch {info['torch']}, "
          f"{info['threads']} thread(s), python {info['python']}, quick={args.quick}",
          flush=True)
    start = time.perf_counter()
    overrides = {} if args.tol is None else dict(tol=args.tol)
    results = [run_dataset(name, args.data_dir, args.quick, out_dir, args.velocities,
                           overrides, args.tag) for name in args.datasets]
    print(f"\nthis run: {time.perf_counter() - start:.0f} s")
    print_table(results)


if __name__ == "__main__":
    main()
