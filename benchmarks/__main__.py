"""``python -m benchmarks run --suite smoke|quick|full [--parts ...] --data-dir DIR --out DIR``.

The studies that are not suite parts run through the same entry point:
``python -m benchmarks study NAME [its options]``, NAME one of ``STUDIES`` (the
script ``benchmarks/bench_NAME.py``; ``python -m benchmarks study NAME --help``).

``--datasets`` and ``--peers`` narrow the density part (e.g. ``--peers MAF NSF`` leaves out
the two CNFs, which train for as long as skjko did).

Writes ``suite_<suite>_<part>.json`` and ``.md`` per part and ``suite_<suite>.md``
into ``--out``, figures into ``--figures`` (default ``benchmarks/figures`` for the
full suite, ``<out>/figures`` otherwise), and prints the tables.
"""

import argparse
import importlib
from pathlib import Path

from .suite.config import PARTS, SUITES

#: Studies with options of their own (candidate settings, data sets): benchmarks/bench_<name>.py.
STUDIES = ("defaults", "divergence", "parallel", "small_data", "training", "velocity")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a benchmark suite")
    run.add_argument("--suite", choices=tuple(SUITES), default="quick")
    run.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    run.add_argument("--data-dir", default="../shared/data")
    run.add_argument("--out", default="benchmarks/results")
    run.add_argument("--figures", default=None, help="where the PNGs go")
    run.add_argument("--datasets", nargs="+", default=None,
                     help="density part only: these data sets instead of the suite's")
    run.add_argument("--peers", nargs="+", default=None, choices=("MAF", "NSF", "CNF", "e2e-CNF"),
                     help="density part only: these peer flows instead of the suite's "
                          "(GMM and KDE always run)")
    run.add_argument("--tables-only", action="store_true",
                     help="no measurements: re-print tables and redraw figures from --out")
    study = commands.add_parser("study", help="run one of the studies: " + ", ".join(STUDIES),
                                add_help=False)
    study.add_argument("name", choices=STUDIES)
    study.add_argument("options", nargs=argparse.REMAINDER,
                       help="the study's own options (--help lists them)")
    args = parser.parse_args(argv)
    if args.command == "study":
        return importlib.import_module(f".bench_{args.name}", __package__).main(args.options)
    from .suite import runner

    figures = args.figures or ("benchmarks/figures" if args.suite == "full"
                               else str(Path(args.out) / "figures"))
    if args.tables_only:
        runner.redraw(args.suite, args.parts, args.out, figures)
    else:
        runner.run(args.suite, args.parts, args.data_dir, args.out, figures, args.datasets,
                   args.peers)


if __name__ == "__main__":
    main()
