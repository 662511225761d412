"""Markdown tables, target verdicts and PNG figures from the parts' results."""

import json
import math
from pathlib import Path

import numpy as np

from ..common import pyplot
from . import (anomaly, anytime, defaults, density, device, divergence, older_code, parallel,
               procedure, small_data, training, velocity)
from .config import ALL_PARTS, DEFAULT_HIDDEN, STANDING, SUITES


def _verdict(met, by):
    return f"**met** ({by})" if met else f"**missed** ({by})"


# ---------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------

def _method_grid(rows, key, fmt):
    """Markdown lines of a data sets × methods table of ``row[key]`` (– where absent)."""
    sets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["dataset"], r["method"]): r for r in rows}
    head = "| data set | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods)
    return [head] + [f"| {s} | " + " | ".join(
        format(cell[s, m][key], fmt) if key in cell.get((s, m), {}) else "–" for m in methods)
        + " |" for s in sets]


def density_tables(rows):
    """NLL table (data sets × methods), the mass off the data on the toys, MMD², fit
    seconds and the MINIBOONE target."""
    sets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    cell = {(r["dataset"], r["method"]): r for r in rows}
    nll = _method_grid(rows, "nll", ".3f")
    secs = _method_grid(rows, "fit_seconds", ".1f")
    mmd = _method_grid(rows, "mmd", ".2e")
    lines = ["Test NLL (nats, lower is better):", "", *nll, ""]
    if any("off_data_mass" in r for r in rows):
        lines += [f"Mass off the data (on the toys: each density's mass on the grid where the "
                  f"true density is under {density.OFF_DATA_FRACTION:g} of its peak; mass m "
                  f"there costs every test row −log(1 − m) nats):", "",
                  *_method_grid(rows, "off_data_mass", ".4f"), ""]
    lines += ["MMD² of as many samples as test rows (at most 2000) to the test rows (Gaussian "
              "kernel, bandwidth 0.1 × their median distance; unbiased, lower is better; – : "
              "no sampler):", "", *mmd, "",
              "Fit wall time (s; zuko flows and the end-to-end CNF had skjko's fit time, at "
              "least the suite's minimum, as budget, validation checks included):", "", *secs,
              ""]
    lines += ["Chosen baseline settings: " + "; ".join(
        f"{r['dataset']} {r['method']} {r['info']}" for r in rows
        if r["method"] in ("GMM", "KDE")), ""]
    if "miniboone" in sets:
        jko = cell["miniboone", "skjko"]["nll"]
        others = {m: cell["miniboone", m]["nll"] for m in methods
                  if m != "skjko" and ("miniboone", m) in cell}
        best = min(others, key=others.get)
        lines.append("Target, MINIBOONE test NLL below every baseline: " + _verdict(
            jko < others[best], f"skjko {jko:.3f} vs best baseline {best} {others[best]:.3f}, "
            f"difference {jko - others[best]:+.3f} nats"))
    return "\n".join(lines)


def anomaly_tables(rows):
    """Mean AUC per set and method, the mean over sets, and the target."""
    table, means = anomaly.summarize(rows)
    seeds = sorted({r["seed"] for r in rows})
    head = "| set | " + " | ".join(anomaly.METHODS) + " |\n|---|" + "---|" * len(anomaly.METHODS)
    lines = [f"ROC AUC, mean over seeds {seeds}:", "", head]
    lines += [f"| {s} | " + " | ".join(f"{table[s][m]:.3f}" for m in anomaly.METHODS) + " |"
              for s in table]
    lines.append("| **mean** | " + " | ".join(f"**{means[m]:.3f}**" for m in anomaly.METHODS)
                 + " |")
    baselines = {m: v for m, v in means.items() if m != "skjko"}
    best = max(baselines, key=baselines.get)
    seconds = {m: sum(r["seconds"] for r in rows if r["method"] == m) for m in anomaly.METHODS}
    lines += ["", "Total fit + score seconds over all sets and seeds: " + ", ".join(
        f"{m} {s:.1f}" for m, s in seconds.items()), "",
        "Target, mean AUC at least the best single baseline's: " + _verdict(
            means["skjko"] >= baselines[best], f"skjko {means['skjko']:.3f} vs {best} "
            f"{baselines[best]:.3f}, difference {means['skjko'] - baselines[best]:+.3f}")]
    return "\n".join(lines)


def speed_tables(result):
    """Throughput table, the two speed targets at d = 43, and the profile."""
    lines = ["| d | skjko net | rows | skjko score_samples (rows/s) | "
             "same flow, loop trace (rows/s) | "
             "zuko CNF exact (rows/s) | NFE/chunk skjko / zuko | skjko ÷ zuko | skjko ÷ loop | "
             "max abs diff skjko vs loop |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["throughput"]:
        lines.append(
            f"| {r['d']} | {tuple(r['exact_path']['hidden_sizes'])} | {r['n_rows']} | "
            f"{r['skjko']['rows_per_second']:.0f} | "
            f"{r['loop']['rows_per_second']:.0f} | {r['zuko_cnf']['rows_per_second']:.0f} | "
            f"{r['skjko']['nfe_per_chunk']:.0f} / {r['zuko_cnf']['nfe_per_chunk']:.1f} | "
            f"{r['ratio_vs_zuko']:.2f} | {r['ratio_vs_loop']:.2f} | "
            f"{r['max_abs_diff_skjko_vs_loop']:.1e} |")
    paths = {str(r["exact_path"]) for r in result["throughput"]}
    lines += ["", f"skjko's exact trace in `score_samples` (closed form or autograd loop): "
              f"{', '.join(sorted(paths))}", ""]
    # The targets are for skjko's default network; other nets are extra rows.
    at43 = [r for r in result["throughput"]
            if r["d"] == 43 and tuple(r["exact_path"]["hidden_sizes"]) == DEFAULT_HIDDEN]
    if at43:
        r = at43[0]
        lines.append("Target, skjko ≥ 3× zuko CNF exact at d = 43: " + _verdict(
            r["ratio_vs_zuko"] >= 3, f"{r['ratio_vs_zuko']:.2f}×"
            + ("" if r["ratio_vs_zuko"] >= 3 else f", short by {3 / r['ratio_vs_zuko']:.2f}×")))
        lines.append("")
        lines.append("Target, skjko ≥ 5× the per-dimension loop at d = 43: " + _verdict(
            r["ratio_vs_loop"] >= 5, f"{r['ratio_vs_loop']:.2f}×"
            + ("" if r["ratio_vs_loop"] >= 5 else f", short by {5 / r['ratio_vs_loop']:.2f}×")))
    p = result["profile"]
    lines += ["", f"torch.profiler, `score_samples` on {p['rows']} rows at d = {p['d']} "
              "(top ops by self CPU time):", "", "```", p["table"].rstrip(), "```"]
    return "\n".join(lines)


def memory_tables(result):
    lines = ["| measurement | rows | d | RSS before the call (MiB) | peak RSS (MiB) | "
             "input array (MiB) | seconds |", "|---|---|---|---|---|---|---|"]
    for r in [result["fit"], *result["score"]]:
        name = "fit" if r["what"] == "fit" else "score_samples"
        lines.append(f"| {name} | {r['n']} | {r['d']} | "
                     f"{r['rss_before_mib']:.0f} | {r['peak_mib']:.0f} | "
                     f"{r['input_mib']:.1f} | {r['seconds']:.1f} |")
    return "\n".join(lines)


def scaling_tables(result):
    lines = ["| n (d = 2) | fit s | score s |", "|---|---|---|"]
    lines += [f"| {p['n']} | {p['fit_seconds']:.3g} | {p['score_seconds']:.3g} |"
              for p in result["by_n"]]
    lines += ["", f"| d (fit on {result['n_fit_d']} rows, score {result['n_score_d']}) | "
              "fit s | score s |", "|---|---|---|"]
    lines += [f"| {p['d']} | {p['fit_seconds']:.3g} | {p['score_seconds']:.3g} |"
              for p in result["by_d"]]
    e = result["exponents"]
    lines += ["", "Fitted exponents (slope of log time): "
              f"fit vs n {e['fit_vs_n']:.2f}, score vs n {e['score_vs_n']:.2f}, "
              f"fit vs d {e['fit_vs_d']:.2f}, score vs d {e['score_vs_d']:.2f}"]
    return "\n".join(lines)


def conditional_tables(rows):
    """Conditional test NLL and fit seconds, data sets × methods."""
    return "\n".join(["Conditional test NLL, −mean log p(y | x) (nats, lower is better):", "",
                      *_method_grid(rows, "nll", ".3f"), "", "Fit wall time (s):", "",
                      *_method_grid(rows, "fit_seconds", ".1f")])


def threads_tables(rows):
    lines = ["Milliseconds per optimizer step, default network, batch 1000 (each row a fresh "
             "interpreter; neighbours are single-threaded torch loops):", "",
             "| busy neighbours | d | n_threads | OMP wait | threads used | ms per step |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['busy']} | {r['d']} | {r['n_threads']} | {r['wait_policy']} | "
              f"{r['n_threads_']} | {r['ms_per_step']} |" for r in rows]
    return "\n".join(lines)


TABLES = dict(density=density_tables, conditional=conditional_tables, anomaly=anomaly_tables,
              speed=speed_tables, training=training.table, memory=memory_tables,
              scaling=scaling_tables, threads=threads_tables, defaults=defaults.table,
              small_data=small_data.table, parallel=parallel.table, divergence=divergence.table,
              velocity=velocity.table, procedure=procedure.table, device=device.table,
              older_code=older_code.table, anytime=anytime.table)


# ---------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------

def plot_anomaly(rows, path):
    """Grouped bars: mean AUC per set and method, plus the mean over sets."""
    plt = pyplot()
    table, means = anomaly.summarize(rows)
    sets = [*table, "mean"]
    width = 0.8 / len(anomaly.METHODS)
    fig, ax = plt.subplots(figsize=(1.2 * len(sets) + 2, 4))
    for i, method in enumerate(anomaly.METHODS):
        values = [table[s][method] for s in table] + [means[method]]
        ax.bar(np.arange(len(sets)) + (i - len(anomaly.METHODS) / 2 + 0.5) * width, values,
               width, label=method)
    ax.set_xticks(np.arange(len(sets)), sets)
    ax.set_ylim(0.4, 1.0)
    ax.set_ylabel("ROC AUC")
    ax.legend(fontsize="small", ncol=len(anomaly.METHODS), loc="lower center",
              bbox_to_anchor=(0.5, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_scaling(result, path):
    """Log-log fit and score time against n and against d, exponents in the legend."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, axis, points in ((axes[0], "n", result["by_n"]), (axes[1], "d", result["by_d"])):
        x = [p[axis] for p in points]
        for what in ("fit", "score"):
            slope = result["exponents"][f"{what}_vs_{axis}"]
            ax.loglog(x, [p[f"{what}_seconds"] for p in points], "o-",
                      label=f"{what} (slope {slope:.2f})")
        ax.minorticks_off()  # log-axis minor labels collide at these few points
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel(axis)
        ax.set_ylabel("seconds")
        ax.legend()
    axes[0].set_title("d = 2 (checkerboard)")
    axes[1].set_title(f"fit {result['n_fit_d']} rows, score {result['n_score_d']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


PLOTS = dict(anomaly=plot_anomaly, scaling=plot_scaling, procedure=procedure.plot_nll_curves,
             anytime=anytime.plot)


# ---------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------

def write(out_dir, figures_dir, suite, tag, result, header):
    """``<out>/suite_<suite>_<tag>.json`` and ``.md``; the figure of the part, if any.

    ``tag`` is the part's name, or ``density-<data sets>`` when the density part
    ran on chosen data sets: one file pair per run, so parts run in separate
    processes never overwrite each other; :func:`combine` joins them.
    """
    part = tag.split("-")[0]
    out_dir, figures_dir = Path(out_dir), Path(figures_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"suite_{suite}_{tag}"
    stem.with_suffix(".json").write_text(json.dumps(dict(header, part=part, result=result),
                                                    indent=1, default=str))
    markdown = f"### {tag}\n\n{TABLES[part](result)}\n"
    if part in PLOTS:
        figures_dir.mkdir(parents=True, exist_ok=True)
        figure = figures_dir / f"{suite}_{tag}.png"
        PLOTS[part](result, figure)
        markdown += f"\nFigure: `{figure}`\n"
    stem.with_suffix(".md").write_text(markdown)
    return markdown


def saved_tags(out_dir, suite):
    """Tags of the results saved in ``out_dir`` for ``suite``, in the order of PARTS."""
    tags = [p.stem[len(f"suite_{suite}_"):] for p in Path(out_dir).glob(f"suite_{suite}_*.json")]
    return sorted(tags, key=lambda t: (ALL_PARTS.index(t.split("-")[0]), t))


def standing_tags(out_dir, suite):
    """The saved runs the standing reads: the suite's named runs (``config.STANDING``) that
    exist in ``out_dir``, in the order of :func:`saved_tags`; every saved run for a suite
    that names none."""
    tags = saved_tags(out_dir, suite)
    return [t for t in tags if t in STANDING[suite]] if suite in STANDING else tags


def combine(out_dir, suite):
    """Join every ``suite_<suite>_<tag>.md`` in ``out_dir`` into ``suite_<suite>.md``.

    Also writes ``standing_<suite>.md`` (:func:`standing_report`).
    """
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    parts = [Path(out_dir) / f"suite_{suite}_{tag}.md" for tag in saved_tags(out_dir, suite)]
    text = "\n".join(p.read_text() for p in parts if p.exists())
    (Path(out_dir) / f"suite_{suite}.md").write_text(f"## Suite `{suite}`\n\n{text}")
    standing = standing_report(out_dir, suite)
    if standing:
        (Path(out_dir) / f"standing_{suite}.md").write_text(standing)


def standing_report(out_dir, suite):
    """Where skjko stands, one section per part: the density :func:`standing_table`, the
    conditional part's data sets each from its newest run (:func:`newest_rows`), then
    every other part's tables from its newest named run (:func:`standing_tags`, by the
    header's ``finished``)."""
    newest = {}
    for tag in standing_tags(out_dir, suite):
        part = tag.split("-")[0]
        saved = json.loads((Path(out_dir) / f"suite_{suite}_{tag}.json").read_text())
        if part not in newest or saved.get("finished", "") >= newest[part][0]:
            newest[part] = (saved.get("finished", ""), tag)
    sections = []
    density = standing_table(out_dir, suite)
    if density:
        sections.append(f"### density\n\nEach data set's newest run:\n\n{density}\n")
    conditional = newest_rows(out_dir, suite, "conditional")
    if conditional:
        runs = "; ".join(f"{name}: `{tag}`, {finished or 'no date'}"
                         for name, (finished, tag, *_) in conditional.items())
        rows = [row for *_, rows in conditional.values() for row in rows]
        sections.append(f"### conditional\n\nEach data set's newest run ({runs}):\n\n"
                        f"{conditional_tables(rows)}\n")
    for part, (finished, tag) in newest.items():
        markdown = Path(out_dir) / f"suite_{suite}_{tag}.md"
        if part not in ("density", "conditional") and markdown.exists():
            sections.append(markdown.read_text().replace(
                f"### {tag}\n", f"### {part} (`{tag}`, {finished or 'no date'})\n", 1))
    return "\n".join(sections)


def _off_data_cell(*rows):
    """``skjko / best peer / truth`` masses off the data, – where a run did not measure them."""
    if any(row is None or "off_data_mass" not in row for row in rows):
        return "–"
    return " / ".join(f"{row['off_data_mass']:.4f}" for row in rows)


def newest_rows(out_dir, suite, part):
    """Each data set's rows from the newest named run of ``part`` that has it.

    The runs are the standing's (:func:`standing_tags`), ordered by their
    header's ``finished`` time; the density and conditional parts save one file
    per run (``suite_<suite>_<part>-<data sets>.json``), so a data set re-run
    later replaces its older rows and keeps the others'.

    Returns
    -------
    dict
        data set -> (finished, tag, code, cpu, rows), in the suite's data-set order.
    """
    newest = {}
    for tag in standing_tags(out_dir, suite):
        if tag.split("-")[0] != part:
            continue
        saved = json.loads((Path(out_dir) / f"suite_{suite}_{tag}.json").read_text())
        finished = saved.get("finished", "")
        for name in dict.fromkeys(r["dataset"] for r in saved["result"]):
            if name not in newest or finished >= newest[name][0]:
                newest[name] = (finished, tag, saved.get("code", "unknown"),
                                saved.get("machine", {}).get("cpu", "unknown CPU"),
                                [r for r in saved["result"] if r["dataset"] == name])
    order = list(SUITES[suite][part]["datasets"])
    return dict(sorted(newest.items(), key=lambda item: (
        order.index(item[0]) if item[0] in order else len(order), item[0])))


def standing_table(out_dir, suite="full"):
    """Where skjko stands: its test NLL beside every peer's, per data set (markdown).

    One row per data set from :func:`newest_rows`: skjko, the best peer,
    the toys' true density (the NLL with nothing left to learn), the other
    peers, the blocks kept, skjko's density's mass on 2-D data (–: not
    measured), the mass off the data of skjko, the best peer and the truth
    (:class:`density.MassGrid`; on the toys, in runs that measured it),
    skjko's fit seconds, and the run it comes from
    (its file, when it finished, the code and the CPU). skjko's NLL is bold
    when it is under the best peer's; where its mass was measured, after
    adding log(mass): a density with mass over 1 on the grid scores better
    than it fits.
    Empty when no density run is saved.
    """
    newest = newest_rows(out_dir, suite, "density")
    if not newest:
        return ""
    lines = ["| data set | skjko | best peer | true density | other peers | blocks | "
             "skjko mass | mass off the data: skjko / best peer / truth | skjko fit s | run |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, (finished, tag, code, cpu, rows) in newest.items():
        by_method = {r["method"]: r for r in rows}
        if "skjko" not in by_method:
            continue
        jko = by_method.pop("skjko")
        truth = by_method.pop(density.TRUE_DENSITY, None)  # a reference, not a peer
        ranked = sorted(by_method.values(), key=lambda r: r["nll"])
        best, others = ranked[0], ranked[1:]
        normalized = jko["nll"] + (0.0 if jko.get("mass") is None else math.log(jko["mass"]))
        mark = "**" if normalized < best["nll"] else ""
        lines.append(
            f"| {name} | {mark}{jko['nll']:.3f}{mark} | {best['method']} {best['nll']:.3f} | "
            + ("–" if truth is None else f"{truth['nll']:.3f}") + " | "
            + ", ".join(f"{r['method']} {r['nll']:.3f}" for r in others)
            + f" | {jko['info'].get('n_blocks', '–')} | "
            + ("–" if jko.get("mass") is None else f"{jko['mass']:.4f}") + " | "
            + _off_data_cell(jko, best, truth)
            + f" | {jko['fit_seconds']:.0f} | "
            f"`{tag}`, {finished or 'no date'}" + ("" if code == "unknown" else f", {code}")
            + f", {cpu.replace('(R)', '').replace(' Processor', '')} |")
    return "\n".join(lines)
