"""Runs the chosen parts of one suite and writes their results."""

import json
import time
from pathlib import Path

import torch

from ..common import code_version, machine_info, utc_now
from . import (anomaly, conditional, density, memory, report, scaling, speed, threads,
               training)
from .config import SUITES


def _run_part(part, settings, data_dir, datasets):
    if part == "density":
        return density.run(data_dir, settings, datasets)
    if part == "anomaly":
        return anomaly.run(data_dir, settings)
    if part == "conditional":
        return conditional.run(data_dir, settings)
    return {"speed": speed, "training": training, "memory": memory, "scaling": scaling,
            "threads": threads}[part].run(settings)


def run(suite, parts, data_dir, out_dir, figures_dir, datasets=None, peers=None):
    """Run ``parts`` of ``suite``; print and write each part's tables as soon as it ends.

    ``datasets`` and ``peers`` (names as ``--peers`` takes them) narrow the density part.
    """
    # One thread: the suite shares 2 cores with other work (see JOURNAL.md).
    torch.set_num_threads(1)
    info = machine_info()
    print(f"suite {suite}, parts {list(parts)}; CPU {info['cpu']} ({info['logical_cpus']} "
          f"logical CPUs), torch {info['torch']}, {info['threads']} thread(s), "
          f"python {info['python']}", flush=True)
    start = time.perf_counter()
    for part in parts:
        part_start = time.perf_counter()
        settings = SUITES[suite][part]
        if part == "density" and peers is not None:
            settings = dict(settings, peers=tuple(p for p in peers if p != "e2e-CNF"),
                            e2e_cnf="e2e-CNF" in peers)
        result = _run_part(part, settings, data_dir, datasets)
        header = dict(suite=suite, machine=info, settings=settings,
                      seconds=time.perf_counter() - part_start, finished=utc_now(),
                      code=code_version())
        tag = part if part != "density" or not datasets else f"density-{'-'.join(datasets)}"
        print("\n" + report.write(out_dir, figures_dir, suite, tag, result, header), flush=True)
        print(f"[{part}: {header['seconds']:.0f} s]\n", flush=True)
    report.combine(out_dir, suite)
    print(f"suite {suite}: {time.perf_counter() - start:.0f} s in all", flush=True)


def redraw(suite, parts, out_dir, figures_dir):
    """Re-print the tables and redraw the figures of ``parts`` from the JSON in ``out_dir``."""
    for tag in report.saved_tags(out_dir, suite):
        if tag.split("-")[0] in parts:
            saved = json.loads((Path(out_dir) / f"suite_{suite}_{tag}.json").read_text())
            header = {k: v for k, v in saved.items() if k not in ("part", "result")}
            print(report.write(out_dir, figures_dir, suite, tag, saved["result"], header))
    report.combine(out_dir, suite)
