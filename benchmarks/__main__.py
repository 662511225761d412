"""``python -m benchmarks run --suite smoke|quick|full [--parts ...] --data-dir DIR --out DIR``.

One entry point for every measurement. ``--parts`` defaults to the suite's parts
(``PARTS``: density, conditional, anomaly, speed, training, memory, scaling,
threads); the studies (``STUDIES``: defaults, small_data, parallel, divergence,
velocity, procedure, device, older_code) run when named. Every part's settings for
each suite are in ``benchmarks/suite/config.py``:

* ``--datasets`` narrows every named part that has data sets; the result then
  gets a file of its own (``suite_<suite>_<part>-<data sets>``);
* ``--peers`` narrows the density part's flows (e.g. ``--peers MAF NSF`` leaves
  out the two CNFs, which train for as long as skjko did);
* ``--set KEY=JSON`` overrides one setting of the named parts, e.g.
  ``--set 'candidates=[{}, {"h": 2.0}]'`` for the defaults study;
* ``--label`` adds a word to the result's file name, so that variants keep
  their own files.

Writes ``suite_<suite>_<part>.json`` and ``.md`` per part, ``suite_<suite>.md``
and ``standing_<suite>.md`` (skjko beside its peers, from the runs ``STANDING``
in ``config.py`` names: each data set's newest density run among them) into
``--out``, figures into ``--figures`` (default
``benchmarks/figures`` for the full suite, ``<out>/figures`` otherwise), and
prints the tables.
"""

import argparse
import json
from pathlib import Path

from .suite.config import ALL_PARTS, PARTS, SUITES


def setting(text):
    """``KEY=JSON`` -> (key, value); a value that is not JSON is taken as a string."""
    key, _, value = text.partition("=")
    if not key or not _:
        raise argparse.ArgumentTypeError(f"expected KEY=JSON, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run parts of a benchmark suite")
    run.add_argument("--suite", choices=tuple(SUITES), default="quick")
    run.add_argument("--parts", nargs="+", choices=ALL_PARTS, default=list(PARTS))
    run.add_argument("--data-dir", default="../shared/data")
    run.add_argument("--out", default="benchmarks/results")
    run.add_argument("--figures", default=None, help="where the PNGs go")
    run.add_argument("--datasets", nargs="+", default=None,
                     help="these data sets instead of the suite's, in every part that has some")
    run.add_argument("--peers", nargs="+", default=None, choices=("MAF", "NSF", "CNF", "e2e-CNF"),
                     help="density part only: these peer flows instead of the suite's "
                          "(GMM and KDE always run)")
    run.add_argument("--set", dest="overrides", type=setting, action="append", default=[],
                     metavar="KEY=JSON", help="override a setting of the parts run")
    run.add_argument("--label", default=None, help="a word added to the results' file names")
    run.add_argument("--tables-only", action="store_true",
                     help="no measurements: re-print tables and redraw figures from --out")
    args = parser.parse_args(argv)
    from .suite import runner

    figures = args.figures or ("benchmarks/figures" if args.suite == "full"
                               else str(Path(args.out) / "figures"))
    if args.tables_only:
        runner.redraw(args.suite, args.parts, args.out, figures)
    else:
        runner.run(args.suite, args.parts, args.data_dir, args.out, figures, args.datasets,
                   args.peers, dict(args.overrides), args.label)


if __name__ == "__main__":
    main()
