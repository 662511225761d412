"""Runs the chosen parts of one suite and writes their results."""

import json
import time
from pathlib import Path

import torch

from ..common import code_version, machine_info, utc_now
from . import (anomaly, anytime, conditional, defaults, density, device, divergence, memory,
               older_code, parallel, procedure, report, scaling, small_data, speed, threads,
               training, velocity)
from .config import SUITES

#: Every part's module: ``run(settings, data_dir)`` returns its result.
MODULES = dict(density=density, conditional=conditional, anomaly=anomaly, speed=speed,
               training=training, memory=memory, scaling=scaling, threads=threads,
               defaults=defaults, small_data=small_data, parallel=parallel,
               divergence=divergence, velocity=velocity, procedure=procedure, device=device,
               older_code=older_code, anytime=anytime)


def part_settings(suite, part, datasets=None, peers=None, overrides=None):
    """The suite's settings of ``part``, narrowed and overridden for one run."""
    settings = dict(SUITES[suite][part], **(overrides or {}))
    if datasets and "datasets" in settings:
        settings["datasets"] = tuple(datasets)
    if part == "density" and peers is not None:
        settings.update(peers=tuple(p for p in peers if p != "e2e-CNF"),
                        e2e_cnf="e2e-CNF" in peers)
    return settings


def run(suite, parts, data_dir, out_dir, figures_dir, datasets=None, peers=None,
        overrides=None, label=None):
    """Run ``parts`` of ``suite``; print and write each part's tables as soon as it ends.

    ``datasets`` narrows every part that has data sets, ``peers`` (names as ``--peers``
    takes them) the density part's flows, and ``overrides`` (a dict) replaces settings;
    ``label`` is added to the results' file names.
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
        settings = part_settings(suite, part, datasets, peers, overrides)
        result = MODULES[part].run(settings, data_dir)
        header = dict(suite=suite, machine=info, settings=settings,
                      seconds=time.perf_counter() - part_start, finished=utc_now(),
                      code=code_version())
        # A narrowed run gets a file of its own, so it never overwrites the whole part's.
        tag = "-".join([part, *(datasets if datasets and "datasets" in settings else []),
                        *([label] if label else [])])
        print("\n" + report.write(out_dir, figures_dir, suite, tag, result, header), flush=True)
        print(f"[{part}: {header['seconds']:.0f} s]\n", flush=True)
    report.combine(out_dir, suite)
    print(f"suite {suite}: {time.perf_counter() - start:.0f} s in all", flush=True)


def redraw(suite, parts, out_dir, figures_dir):
    """Re-print the tables and redraw the figures of ``parts`` from the JSON in ``out_dir``."""
    for tag in report.saved_tags(out_dir, suite):
        if tag.split("-")[0] in parts:
            saved = json.loads((Path(out_dir) / f"suite_{suite}_{tag}.json").read_text())
            if "result" not in saved:  # ``-bench``: written by the part's older script
                continue
            header = {k: v for k, v in saved.items() if k not in ("part", "result")}
            print(report.write(out_dir, figures_dir, suite, tag, saved["result"], header))
    report.combine(out_dir, suite)
