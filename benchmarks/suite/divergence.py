"""Exact divergence on CPU: per-dimension autograd loop, batched torch.func, closed form.

Per dimension and dtype, the median seconds of one exact-trace evaluation of a
d → 128 → 128 → 128 → d Softplus MLP for each method, and the ratio vmap/loop
measured side by side in the same run; then, for two-hidden-layer MLPs, the
closed-form trace (``VelocityMLP.velocity_and_divergence``) against the loop.

    python -m benchmarks run --suite full --parts divergence
"""

import statistics
import time

import torch

from skjko import VelocityMLP, divergence_exact


def median_seconds(function, repeats):
    function()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(settings, data_dir=None):
    """Rows of both comparisons: ``kind`` 'vmap' (three layers) or 'closed form' (two)."""
    torch.manual_seed(0)
    rows, n, repeats = [], settings["rows"], settings["repeats"]
    for d in settings["dims"]:
        for dtype in (torch.float32, torch.float64):
            net = VelocityMLP(d, (128, 128, 128)).to(dtype)
            x = torch.randn(n, d, dtype=dtype)
            with torch.no_grad():
                seconds = {method: median_seconds(
                    lambda m=method: divergence_exact(net, x, method=m), repeats)
                    for method in ("loop", "vmap")}
            rows.append(dict(kind="vmap", d=d, hidden=[128, 128, 128],
                             dtype=str(dtype).replace("torch.", ""), loop_s=seconds["loop"],
                             other_s=seconds["vmap"]))
    for d in settings["dims"]:
        for hidden in ((128, 128), (256, 256)):
            net = VelocityMLP(d, hidden).double()
            x = torch.randn(n, d, dtype=torch.float64)
            with torch.no_grad():
                loop = median_seconds(lambda: divergence_exact(net, x), repeats)
                closed = median_seconds(lambda: net.velocity_and_divergence(x), repeats)
            rows.append(dict(kind="closed form", d=d, hidden=list(hidden), dtype="float64",
                             loop_s=loop, other_s=closed))
    return rows


def table(rows):
    lines = ["| method | d | hidden | dtype | loop (s) | method (s) | loop / method |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['kind']} | {r['d']} | {tuple(r['hidden'])} | {r['dtype']} | "
              f"{r['loop_s']:.3f} | {r['other_s']:.4f} | {r['loop_s'] / r['other_s']:.1f} |"
              for r in rows]
    return "\n".join(lines)
