"""Exact divergence on CPU: per-dimension autograd loop, batched torch.func, closed form.

Run: python -m benchmarks.bench_divergence [--rows 5000] [--dims 2 16 43] [--repeats 3]

Prints, per dimension and dtype, the median seconds of one exact-trace
evaluation of a d → 128 → 128 → 128 → d Softplus MLP for each method, and
the ratio vmap/loop measured side by side in the same run. A second table
compares, for two-hidden-layer MLPs, the closed-form trace
(``VelocityMLP.velocity_and_divergence``) with the loop.
"""

import argparse
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 16, 43])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, rows={args.rows}")
    print("| d | dtype | loop (s) | vmap (s) | vmap / loop |")
    print("|---|---|---|---|---|")
    for d in args.dims:
        for dtype in (torch.float32, torch.float64):
            net = VelocityMLP(d, (128, 128, 128)).to(dtype)
            x = torch.randn(args.rows, d, dtype=dtype)
            with torch.no_grad():
                seconds = {method: median_seconds(
                    lambda m=method: divergence_exact(net, x, method=m), args.repeats)
                    for method in ("loop", "vmap")}
            print(f"| {d} | {str(dtype).replace('torch.', '')} | {seconds['loop']:.3f} | "
                  f"{seconds['vmap']:.3f} | {seconds['vmap'] / seconds['loop']:.2f} |", flush=True)
    print("\n| d | hidden | dtype | loop (s) | closed form (s) | loop / closed form |")
    print("|---|---|---|---|---|---|")
    for d in args.dims:
        for hidden in ((128, 128), (256, 256)):
            net = VelocityMLP(d, hidden).double()
            x = torch.randn(args.rows, d, dtype=torch.float64)
            with torch.no_grad():
                loop = median_seconds(lambda: divergence_exact(net, x), args.repeats)
                closed = median_seconds(lambda: net.velocity_and_divergence(x), args.repeats)
            print(f"| {d} | {hidden} | float64 | {loop:.3f} | {closed:.4f} | {loop / closed:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
