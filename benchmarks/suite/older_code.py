"""One training iteration of this checkout against the code of an older commit, in turns.

Issue 17 asks that a training iteration at d = 43 cost at most half of what it
cost when the issue was filed (``revision``: f4fd986, the last commit before the
issue's first change), each measured against 12 plain forward passes of the
same network on the same batch. The older code cannot be driven by the training
part (its block, loss and trainer differ), so each tree fits the same one-block
MINIBOONE flow with its own defaults (the defaults' network, batch and
divergence; no reparametrization or joint round) for a fixed number of steps, in
a fresh process that has only that tree's ``skjko`` on its path. An iteration
costs the difference of two fits' seconds (``steps``: short and long) over the
difference of their iterations, so what a fit does once (data, input map,
scoring) cancels; what every step does (validation checks every 25 steps, the
older code's weight copies and host reads) is counted, as a user's fit pays it.
The two trees take turns within each of ``rounds`` rounds, so a slow spell of
the machine falls on both. The yardstick, 12 forward passes of the defaults'
network (float32, no gradient, denormals flushed as ``fit`` flushes them: a trained
network's unflushed passes run up to twice as slow) on 1000 of the rows, is timed
in this process after every fit, at the fit's thread count. The older tree is a
``git worktree`` of ``revision``, removed afterwards; it needs its own
dependencies (torchdiffeq at f4fd986).

    python -m benchmarks run --suite full --parts older_code --data-dir ../shared/data
"""

import json
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import torch

from skjko._denormals import flushed_denormals
from skjko._threads import torch_threads
from skjko.velocity import VelocityMLP

from ..common import load_dataset
from .config import DEFAULT_HIDDEN
from .training import EVALUATIONS_PER_SOLVE, _seconds

#: The checkout this module belongs to.
REPOSITORY = Path(__file__).resolve().parents[2]


def fit_in_child(tree, steps, threads, data_dir):
    """Seconds and iterations of one fit by ``tree``'s code, in a fresh process."""
    # The child runs in this checkout's root, so a relative data directory is resolved here.
    command = [sys.executable, "-W", "ignore", "-m", "benchmarks.suite.older_code_fit",
               str(tree), str(steps), str(threads), str(Path(data_dir).resolve())]
    done = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the fit of {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def passes_ms(rows, threads, repeats=20):
    """Milliseconds of 12 forward passes of the defaults' network on ``rows`` (the mean of
    ``repeats`` after a warm-up), on ``threads`` threads with denormals flushed."""
    velocity = VelocityMLP(rows.shape[1], DEFAULT_HIDDEN)
    with torch_threads(threads), flushed_denormals():
        return 1000 * _seconds(partial(forward_passes, velocity, rows), repeats)


def forward_passes(velocity, rows):
    with torch.no_grad():
        for _ in range(EVALUATIONS_PER_SOLVE):
            velocity(rows)


def run(settings, data_dir=None):
    """One row per (threads, tree): milliseconds per iteration, the passes, their ratio."""
    revision = subprocess.run(["git", "rev-parse", "--short", settings["revision"]],
                              cwd=REPOSITORY, capture_output=True, text=True,
                              check=True).stdout.strip()
    X = load_dataset("miniboone", data_dir, {})[0]  # the rows the children train on
    rows = torch.as_tensor((X[:1000] - X.mean(0)) / X.std(0), dtype=torch.float32)
    result = []
    with tempfile.TemporaryDirectory() as scratch:
        old = Path(scratch) / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old), revision],
                       cwd=REPOSITORY, capture_output=True, check=True)
        trees = {revision: old, "this checkout": REPOSITORY}
        try:
            for threads in settings["threads"]:
                fits = {(name, n): [] for name in trees for n in settings["steps"]}
                passes = []
                for _ in range(settings["rounds"]):
                    for n in settings["steps"]:
                        for name, tree in trees.items():
                            fits[name, n].append(fit_in_child(tree, n, threads, data_dir))
                            passes.append(passes_ms(rows, threads))
                result += [summary(name, threads, fits, settings["steps"], passes)
                           for name in trees]
                print(table(result[-len(trees):]), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(old)],
                           cwd=REPOSITORY, capture_output=True)
    return result


def summary(name, threads, fits, steps, passes):
    """A tree's row: the median over rounds of its per-iteration cost; the passes' median."""
    short, long = steps
    per_iteration = [(b["seconds"] - a["seconds"]) / (b["n_iter"] - a["n_iter"])
                     for a, b in zip(fits[name, short], fits[name, long])]
    iteration_ms = 1000 * statistics.median(per_iteration)
    yardstick_ms = statistics.median(passes)
    return dict(code=name, threads=threads, steps=list(steps),
                iteration_ms=iteration_ms, iteration_ms_rounds=[1000 * s for s in per_iteration],
                passes_ms=yardstick_ms, iteration_over_passes=iteration_ms / yardstick_ms)


def table(rows):
    lines = ["| code | threads | iteration ms (rounds) | 12 forward passes ms | "
             "iteration / 12 passes | iteration / the oldest code's |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        first = next(o for o in rows if o["threads"] == r["threads"])
        rounds = ", ".join(f"{ms:.1f}" for ms in r["iteration_ms_rounds"])
        lines.append(f"| {r['code']} | {r['threads']} | {r['iteration_ms']:.1f} ({rounds}) | "
                     f"{r['passes_ms']:.2f} | {r['iteration_over_passes']:.2f} | "
                     f"{r['iteration_ms'] / first['iteration_ms']:.3f} |")
    return "\n".join(lines)
