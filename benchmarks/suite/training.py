"""Training speed: one JKO iteration and its parts, against plain forward passes and torch.mm.

For each data dimension d, network and count in ``fit_iters`` (default ``(1,)``), one
block of the default velocity is trained that many steps on synthetic rows
(``speed.synthetic``) through a fitted input map, and ``steps`` training iterations of
``train_block``'s loop are timed part by part (float32, batch ``batch_size``, the default
3 RK4 steps):

* ``solve``: the block's forward solve alone, no divergence, no graph;
* ``loss``: the JKO loss: the solve with the Hutchinson divergence and its graph, at every
  RK4 stage (``divergence_stages='all'``, the papers' way and the defaults' until
  2026-12-04);
* ``backward``: ``loss.backward()``;
* ``optimizer``: gradient clipping, the AdamW step, zeroing the gradients;
* ``snapshot``: the per-step copy of the weights (``WeightSnapshot.save``);
* ``validation``: one exact validation NLL on 10 % as many rows as training,
  divided by the default ``validation_interval`` (its cost per step).

An iteration is loss + backward + optimizer + snapshot + validation. Beside it: the same
iteration with the divergence at one stage per step (``divergence_stages='sampled'``, the
defaults), and
the 12 plain forward passes of the network on the batch (4 velocity evaluations
per RK4 step, 3 steps) that the issue on training speed compares an iteration
with, the matrix-multiply FLOPs of one iteration as torch.profiler counts them
(``with_flops``), and the rate of ``torch.mm`` on the network's own shapes.
The loss, the backward pass, the sampled iteration and the forward passes take turns over
``ROUNDS`` rounds of ``steps`` calls each, and each figure is the median of its rounds: a
slow or fast spell of the machine then falls on the iteration and on the passes it is
compared with alike (measured apart, the passes moved by 10 % between runs). Run it on an
otherwise idle machine:

    python -m benchmarks run --suite full --parts training --out benchmarks/results

Like ``fit``, everything is timed with float32 denormals flushed to zero
(``skjko._denormals``). A block one step from its initialization and one trained a
thousand steps cost differently: training makes inactive units, and with them the
denormals the flush removes (the journal's "Denormals").

The ``device`` setting (default ``"cpu"``) runs it on a GPU instead; times
there wait for the device (``torch.cuda.synchronize``) before they are read.
"""

import statistics
import time
from functools import partial

import torch
from torch.profiler import ProfilerActivity, profile

from skjko import JKOFlowDensity
from skjko._denormals import flushed_denormals
from skjko.jko import TrainingDivergence, ValidationData, WeightSnapshot, jko_loss

from ..common import input_rows
from .speed import synthetic

#: RK4 steps x velocity evaluations per step of the default block.
EVALUATIONS_PER_SOLVE = 3 * 4
VALIDATION_INTERVAL = JKOFlowDensity().validation_interval
#: Rounds in which the timed parts take turns (see the module docstring).
ROUNDS = 5


def synchronize(device):
    """Wait for the work queued on ``device`` (a GPU runs asynchronously); no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(function, repeats, device=torch.device("cpu")):
    """Mean wall time of ``function()`` over ``repeats`` calls, after one warm-up call."""
    function()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    synchronize(device)
    return (time.perf_counter() - start) / repeats


def _seconds_in_turns(functions, repeats, rounds, device=torch.device("cpu")):
    """Each function's median :func:`_seconds` over ``rounds`` rounds, the functions
    taking turns within each round."""
    seconds = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            seconds[name].append(_seconds(function, repeats, device))
    return {name: statistics.median(values) for name, values in seconds.items()}


def _mm_rate(batch_size, hidden, repeats, device=torch.device("cpu")):
    """GFLOP/s of torch.mm at the network's hidden shape, (batch, width) @ (width, width)."""
    a = torch.randn(batch_size, hidden[0], device=device)
    b = torch.randn(hidden[0], hidden[-1], device=device)
    seconds = _seconds(lambda: torch.mm(a, b), 20 * repeats, device)
    return 2 * batch_size * hidden[0] * hidden[-1] / seconds / 1e9


def measure(d, hidden, settings, fit_iter=1, seed=0):
    """Milliseconds per part of one training iteration at dimension ``d`` of a block
    trained ``fit_iter`` steps; one result row."""
    n, batch_size, steps = settings["n_rows"], settings["batch_size"], settings["steps"]
    device = torch.device(settings.get("device", "cpu"))
    X = synthetic(n, d, seed)
    model = JKOFlowDensity(hidden_sizes=hidden, n_blocks=1, max_iter=fit_iter,
                           joint_max_iter=0, early_stopping=False, device=device,
                           random_state=seed).fit(X)
    traces = {stages: TrainingDivergence(sampled_stages=stages == "sampled")
              for stages in ("all", "sampled")}
    block = model.flow_.blocks[0].float().train().requires_grad_(True)
    rows = torch.as_tensor(input_rows(model, X), dtype=torch.float32, device=device)
    batch, h = rows[:batch_size], 1.0
    validation = ValidationData(rows[:max(n // 10, 2)], batch_size)
    optimizer = torch.optim.AdamW(block.parameters(), lr=1e-5)
    snapshot = WeightSnapshot(block)
    state = {}

    def loss(trace="all"):
        state["loss"] = jko_loss(block, batch, h, trace=traces[trace](batch))[0]

    def backward(trace="all"):
        loss(trace)
        state["loss"].backward()

    def step():
        torch.nn.utils.clip_grad_norm_(block.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def solve():
        with torch.no_grad():
            block(batch, trace=None)

    def forward_passes():
        with torch.no_grad():
            for _ in range(EVALUATIONS_PER_SOLVE):
                block.velocity(batch)

    def seconds(function, repeats=steps):
        return _seconds(function, repeats, device)

    turns = _seconds_in_turns(dict(loss=loss, backward=backward,
                                   sampled=partial(backward, "sampled"),
                                   forward=forward_passes), steps, ROUNDS, device)
    ms = dict(solve=seconds(solve), loss=turns["loss"],
              backward=turns["backward"] - turns["loss"])
    sampled_ms = 1000 * turns["sampled"]
    backward()  # gradients for the optimizer's timing
    ms["optimizer"] = seconds(step)
    ms["snapshot"] = seconds(snapshot.save)
    ms["validation"] = seconds(lambda: validation.nll(block), max(steps // 5, 1)) / \
        VALIDATION_INTERVAL
    ms = {part: 1000 * value for part, value in ms.items()}
    iteration = sum(ms[p] for p in ("loss", "backward", "optimizer", "snapshot", "validation"))
    sampled_ms += iteration - ms["loss"] - ms["backward"]  # the same bookkeeping
    forward_ms = 1000 * turns["forward"]
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as profiler:
        backward()
    flops = sum(event.flops for event in profiler.key_averages() if event.flops)
    row = dict(d=d, hidden=list(hidden), fit_iter=fit_iter, batch_size=batch_size,
               device=str(device),
               threads=torch.get_num_threads(),
               iteration_ms=iteration, **{f"{p}_ms": v for p, v in ms.items()},
               forward_passes_ms=forward_ms, iteration_over_forward=iteration / forward_ms,
               iteration_sampled_ms=sampled_ms,
               sampled_over_forward=sampled_ms / forward_ms,
               gflop_per_iteration=flops / 1e9,
               gflops=flops / 1e9 / ((ms["loss"] + ms["backward"]) / 1000),
               mm_gflops=_mm_rate(batch_size, hidden, steps, device))
    print(f"  training d={d} hidden={hidden} fit_iter={fit_iter}: " + ", ".join(
        f"{k} {v:.3g}" for k, v in row.items() if isinstance(v, float)), flush=True)
    return row


def run(settings, data_dir=None):
    """Every (trained steps, network, d) of the settings; one row each."""
    with flushed_denormals():  # as fit trains
        return [measure(d, tuple(hidden), settings, fit_iter)
                for fit_iter in settings.get("fit_iters", (1,))
                for hidden in settings["networks"] for d in settings["dims"]]


def _or_dash(row, key, digits):
    """A figure, or – in rows written before the part measured it."""
    return f"{row[key]:.{digits}f}" if key in row else "–"


def table(rows):
    lines = ["Milliseconds per training iteration and its parts (float32, denormals flushed "
             "to zero as in fit since 2026-12-05, 3 RK4 steps, one "
             "Hutchinson probe at every RK4 stage, `divergence_stages='all'`; 'sampled': at "
             "one stage per step, the defaults since 2026-12-04), against 12 plain forward "
             "passes of the network on the batch (loss, backward, sampled and passes: medians of "
             f"{ROUNDS} rounds taken in turns); GFLOP/s are the profiler's matrix-multiply "
             "FLOPs over loss + backward, beside torch.mm at the network's shape:", "",
             "| d | network | trained steps | batch | device | threads | iteration | "
             "solve only | loss | "
             "backward | optimizer | snapshot | validation | 12 forward passes | "
             "iteration / 12 passes | iteration, sampled | sampled / 12 passes | "
             "GFLOP per iteration | GFLOP/s | torch.mm GFLOP/s |",
             "|" + "---|" * 20]
    lines += [f"| {r['d']} | {tuple(r['hidden'])} | {r.get('fit_iter', 1)} | "
              f"{r['batch_size']} | "
              f"{r.get('device', 'cpu')} | {r['threads']} | "
              f"{r['iteration_ms']:.1f} | {r['solve_ms']:.1f} | {r['loss_ms']:.1f} | "
              f"{r['backward_ms']:.1f} | {r['optimizer_ms']:.2f} | {r['snapshot_ms']:.2f} | "
              f"{r['validation_ms']:.2f} | {r['forward_passes_ms']:.1f} | "
              f"{r['iteration_over_forward']:.1f} | {_or_dash(r, 'iteration_sampled_ms', 1)} | "
              f"{_or_dash(r, 'sampled_over_forward', 1)} | {r['gflop_per_iteration']:.2f} | "
              f"{r['gflops']:.1f} | {r['mm_gflops']:.1f} |" for r in rows]
    return "\n".join(lines)
