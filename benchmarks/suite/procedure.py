"""JKO-iFlow's full training procedure against an end-to-end CNF with the same network.

    python -m benchmarks run --suite full --parts procedure [--datasets 8gaussians miniboone]

For each data set (FFJORD's six 2-D toys, 20 000 training and 20 000 test
points; MINIBOONE trained on ``miniboone/val.npy`` and tested on
``miniboone/test.npy``):

1. ``JKOFlowDensity`` is fitted once, with a stated configuration that grows
   the blocks and then runs ``n_reparam`` reparametrization rounds (and
   ``n_refine`` refinement rounds where set). The flow is snapshotted every
   time a block is accepted or retrained (the moment a row is appended to
   ``history_``), so the test NLL after every block of every round is that of
   the very model the one ``fit`` call returns; the last snapshot is checked
   against ``model.score``.
2. An end-to-end CNF with the same network (as many blocks as the JKO flow
   kept, each a fresh ``VelocityMLP`` with the same hidden sizes in an
   ``ODEBlock`` with the same RK4 steps) is trained jointly by maximum
   likelihood with Hutchinson divergences, Adam with the same learning rate
   and batch size, gradient clipping 1.0, on the same standardized training
   rows. Its exact test NLL (float64) on a fixed test subset is evaluated
   every ``eval_every`` iterations, until it reaches the JKO flow's final
   NLL on the same subset or its budget (iterations and seconds) runs out.

Test NLLs are in nats in the original space (minus the mean log-density of the
test rows; lower is better). The settings (``toy_jko``, ``miniboone_jko``, ``toy_run``,
``miniboone_run``, ``budget_factor``) are in :mod:`.config`; the suite's report draws the
NLL curves, and the part itself the toys' densities and samples (``toys_figure``, where set).
"""

import copy
import math
import time

import numpy as np
import torch

from skjko import JKOFlowDensity, standard_normal_log_prob

from ..common import input_rows_and_log_det, load_dataset, pyplot
from .peers import flow_log_density, train_cnf


# ---------------------------------------------------------------------------------------
# JKO flow: one fit, snapshotted after every block of every round
# ---------------------------------------------------------------------------------------

def fit_jko_with_snapshots(params, X):
    """``JKOFlowDensity(**params).fit(X)`` once; returns the model, snapshots and wall time.

    A snapshot of the flow is taken after every block of every round (``fit``'s
    ``on_block`` callback).
    """
    sink, clock = [], [0.0]

    def snapshot(flow, record):
        sink.append(dict(row=dict(record), seconds=time.perf_counter() - clock[0],
                         flow=copy.deepcopy(flow).double().eval()))

    model = JKOFlowDensity(**params)
    clock[0] = time.perf_counter()
    model.fit(X, on_block=snapshot)
    seconds = time.perf_counter() - clock[0]
    return model, sink, seconds


# ---------------------------------------------------------------------------------------
# One data set
# ---------------------------------------------------------------------------------------

def run_dataset(name, data_dir, settings, plots):
    """The JKO fit, its stages and the end-to-end CNF on one data set; a result dict."""
    is_toy = name != "miniboone"
    params = dict(settings["toy_jko" if is_toy else "miniboone_jko"])
    run = dict(settings["toy_run" if is_toy else "miniboone_run"])
    budget_factor = settings["budget_factor"]
    X_train, X_test = load_dataset(name, data_dir, run)
    print(f"\n## {name}: train {X_train.shape}, test {X_test.shape}", flush=True)

    model, snapshots, jko_seconds = fit_jko_with_snapshots(params, X_train)
    U_test, input_log_det = input_rows_and_log_det(model, X_test)
    subset = np.sort(np.random.default_rng(12345).choice(len(X_test), min(run["n_subset"],
                                                                         len(X_test)),
                                                         replace=False))

    stages, cumulative_iter = [], 0
    for snap in snapshots:
        row = snap["row"]
        cumulative_iter += row["n_iter"]
        scores = flow_log_density(snap["flow"], X_test)
        stages.append(dict(round=row["round"], block=row["block"], h=row["h"],
                           n_iter=row["n_iter"], best_iter=row["best_iter"],
                           cumulative_iter=cumulative_iter, seconds=snap["seconds"],
                           n_blocks_in_flow=len(snap["flow"]), val_nll=row["val_nll"],
                           w2_movement=row["w2_movement"], w2_ratio=row["w2_ratio"],
                           test_nll=float(-scores.mean()),
                           test_nll_subset=float(-scores[subset].mean())))
    # Mark grow blocks that the validation rule dropped (the flow was truncated after growing).
    n_refine_rounds = len({s["round"] for s in stages if s["round"].startswith("refine")})
    kept_after_grow = model.n_blocks_ // 2**n_refine_rounds
    for s in stages:
        s["kept"] = s["round"] != "grow" or s["block"] <= kept_after_grow
    gaussian_nll_subset = float(-(standard_normal_log_prob(torch.tensor(U_test[subset]))
                                  + torch.tensor(input_log_det[subset])).mean())

    final_scores = model.score_samples(X_test)
    final_nll = float(-final_scores.mean())
    final_subset_nll = float(-final_scores[subset].mean())
    if not math.isclose(final_nll, stages[-1]["test_nll"], rel_tol=0, abs_tol=1e-8):
        raise RuntimeError(f"last snapshot NLL {stages[-1]['test_nll']} != model NLL {final_nll}")
    jko = dict(params={k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()},
               n_blocks=model.n_blocks_, n_iter=model.n_iter_, seconds=jko_seconds,
               stop_reason=model.stop_reason_, step_sizes=list(model.step_sizes_),
               test_nll=final_nll, test_nll_subset=final_subset_nll,
               train_nll=float(-model.score(X_train)), gaussian_nll_subset=gaussian_nll_subset,
               stages=stages)
    print(f"JKO: {model.n_blocks_} blocks, {model.n_iter_} iterations, {jko_seconds:.1f} s, "
          f"test NLL {final_nll:.4f} (subset {final_subset_nll:.4f}), "
          f"stop {model.stop_reason_}", flush=True)

    budget_iterations = budget_factor * model.n_iter_
    cnf = train_cnf(X_train, X_test[subset], model.flow_.input_map, model.n_blocks_, params,
                    final_subset_nll, budget_iterations, run["cnf_max_seconds"],
                    run["eval_every"])
    cnf["ratio_to_reach"] = (cnf["reached"]["iteration"] / model.n_iter_
                             if cnf["reached"] else None)
    cnf["ratio_lower_bound"] = cnf["iterations"] / model.n_iter_
    print(f"CNF: {cnf['iterations']} iterations, {cnf['train_seconds']:.1f} s training "
          f"(+{cnf['eval_seconds']:.1f} s evaluating), stop: {cnf['stop']}, "
          f"best subset NLL {cnf['best']['nll']:.4f} at {cnf['best']['iteration']}", flush=True)

    result = dict(dataset=name, n_train=len(X_train), n_test=len(X_test),
                  n_subset=len(subset), run=run, budget_factor=budget_factor, jko=jko, cnf=cnf)
    if is_toy and plots is not None:
        grid_density, samples = toy_pictures(model, X_train, run)
        plots.append(dict(name=name, X=X_train, density=grid_density, samples=samples))
    return result


def run(settings, data_dir):
    """Every data set of ``settings``; draws ``settings['toys_figure']`` when it names a file."""
    plots = [] if settings.get("toys_figure") else None
    results = [run_dataset(name, data_dir, settings, plots) for name in settings["datasets"]]
    if plots:
        plot_toys(plots, settings["toys_figure"])
    return results


def toy_pictures(model, X, run):
    lo, hi = np.percentile(X, [0.5, 99.5], axis=0)
    pad = 0.15 * (hi - lo)
    lo, hi = lo - pad, hi + pad
    xs, ys = np.linspace(lo[0], hi[0], run["grid"]), np.linspace(lo[1], hi[1], run["grid"])
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    density = np.exp(model.score_samples(grid)).reshape(len(ys), len(xs))
    samples = model.sample(run["n_samples"], random_state=0)
    return dict(extent=(lo[0], hi[0], lo[1], hi[1]), values=density), samples


# ---------------------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------------------

def fmt(x, digits=3):
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}"


def stage_table(results):
    lines = ["| data set | round | block | h | iters (block) | cum. iters | cum. s | "
             "val NLL (std. space) | test NLL | test NLL (subset) | kept |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for s in r["jko"]["stages"]:
            lines.append(f"| {r['dataset']} | {s['round']} | {s['block']} | {s['h']:.3g} | "
                         f"{s['n_iter']} | {s['cumulative_iter']} | {s['seconds']:.1f} | "
                         f"{fmt(s['val_nll'])} | {fmt(s['test_nll'])} | "
                         f"{fmt(s['test_nll_subset'])} | {'yes' if s['kept'] else 'dropped'} |")
    return "\n".join(lines)


def verdict(r):
    cnf = r["cnf"]
    if cnf["reached"]:
        ratio = cnf["ratio_to_reach"]
        if ratio >= r["budget_factor"]:
            return f"met ({ratio:.2f}x)"
        return f"missed: {ratio:.2f}x, short by {r['budget_factor'] / ratio:.1f}x"
    bound = cnf["ratio_lower_bound"]
    if bound >= r["budget_factor"]:
        return f"met (> {bound:.2f}x: CNF never reached it)"
    return f"undecided: CNF not there after {bound:.2f}x (budget cut by seconds)"


def summary_table(results):
    lines = ["| data set | JKO blocks | JKO iters | JKO s | JKO test NLL | JKO NLL (subset) | "
             "CNF budget (iters / s) | CNF iters to reach | CNF s to reach | "
             "CNF best NLL (subset) @ iters | CNF iters / JKO iters | target (budget factor) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        j, c = r["jko"], r["cnf"]
        reach_it = str(c["reached"]["iteration"]) if c["reached"] else f"not reached ({c['stop']})"
        reach_s = fmt(c["reached"]["seconds"], 1) if c["reached"] else "–"
        ratio = (f"{c['ratio_to_reach']:.2f}" if c["reached"]
                 else f"> {c['ratio_lower_bound']:.2f}")
        lines.append(
            f"| {r['dataset']} | {j['n_blocks']} | {j['n_iter']} | {j['seconds']:.1f} | "
            f"{fmt(j['test_nll'])} | {fmt(j['test_nll_subset'])} | "
            f"{c['budget_iterations']} / {c['budget_seconds']:.0f} | {reach_it} | {reach_s} | "
            f"{fmt(c['best']['nll'])} @ {c['best']['iteration']} ({c['iterations']} run, "
            f"{c['train_seconds']:.0f} s) | {ratio} | {verdict(r)} |")
    return "\n".join(lines)


def plot_toys(plots, path):
    plt = pyplot()
    fig, axes = plt.subplots(len(plots), 3, figsize=(9, 3 * len(plots)), squeeze=False)
    for row, p in zip(axes, plots):
        lo0, hi0, lo1, hi1 = p["density"]["extent"]
        bins = [np.linspace(lo0, hi0, 150), np.linspace(lo1, hi1, 150)]
        row[0].hist2d(p["X"][:, 0], p["X"][:, 1], bins=bins, cmap="viridis")
        row[1].imshow(p["density"]["values"], origin="lower", extent=p["density"]["extent"],
                      aspect="auto", cmap="viridis")
        row[2].hist2d(p["samples"][:, 0], p["samples"][:, 1], bins=bins, cmap="viridis")
        row[0].set_ylabel(p["name"])
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    for ax, title in zip(axes[0], ("training data", "learned density", "samples")):
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_nll_curves(results, path):
    plt = pyplot()
    n = len(results)
    cols = min(4, n)
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, r in zip(axes.flat, results):
        stages = r["jko"]["stages"]
        ax.plot([0] + [s["cumulative_iter"] for s in stages],
                [r["jko"]["gaussian_nll_subset"]] +
                [s["test_nll_subset"] for s in stages], "o-", label="JKO (after each block)")
        trace = r["cnf"]["trace"]
        ax.plot([t["iteration"] for t in trace], [t["nll"] for t in trace], "-",
                label="end-to-end CNF")
        ax.axhline(r["jko"]["test_nll_subset"], color="gray", ls="--", lw=0.8)
        values = [s["test_nll_subset"] for s in stages] + [t["nll"] for t in trace]
        finite = [v for v in values if math.isfinite(v)]
        if finite:
            low = min(finite)
            high = np.percentile(finite, 80)
            ax.set_ylim(low - 0.1 * (high - low + 1e-3), high + 0.3 * (high - low + 1e-3))
        ax.set_title(r["dataset"])
        ax.set_xlabel("optimizer iterations")
        ax.set_ylabel("test NLL (subset, nats)")
    axes.flat[0].legend(fontsize="small")
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def table(results):
    """The stage table (after each block of each round) and the summary against the CNF."""
    return "\n".join(["JKO flow after each block of each round:", "", stage_table(results), "",
                      "JKO flow against the end-to-end CNF:", "", summary_table(results)])
