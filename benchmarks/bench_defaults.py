"""Default settings side by side: test NLL and fit time of candidate defaults on several data sets.

Each candidate is ``JKOFlowDensity(random_state=0, **overrides)``; everything not
overridden is the package default. Every data set is fitted by every candidate
in one process, one after the other, next to a GaussianMixture whose
components and covariance type are chosen on a validation split. The median
per-row NLL is printed too: on ODDS sets a few test rows far outside the
training range can dominate the mean.

    python -m benchmarks.bench_defaults --data-dir ../shared/data \\
        --candidates '{"hidden_sizes": [128, 128, 128]}' '{"hidden_sizes": [128, 128]}'
"""

import argparse
import json
import time

import numpy as np
import torch

from skjko import JKOFlowDensity

from .common import code_version, load_any, machine_info, utc_now
from .suite.peers import fit_gmm

DATASETS = ("miniboone", "digits", "checkerboard", "2spirals", "cardio", "letter")
GMM_GRID = dict(n_components=[1, 2, 4, 8, 16, 32], covariance_type=["full", "diag"])


def run(data_dir, datasets, candidates, n_toy, dequantized=False):
    rows = []
    for name in datasets:
        X_train, X_test = load_any(name, data_dir, n_toy, dequantized)
        start = time.perf_counter()
        gmm, chosen = fit_gmm(X_train, GMM_GRID)
        gmm_nll = -gmm.score_samples(X_test)
        rows.append(dict(dataset=name, model=f"GMM {chosen}", test_nll=gmm_nll.mean(),
                         median_nll=float(np.median(gmm_nll)), fit_s=time.perf_counter() - start))
        for overrides in candidates:
            start = time.perf_counter()
            model = JKOFlowDensity(random_state=0, **overrides).fit(X_train)
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            nll = -model.score_samples(X_test)
            rows.append(dict(dataset=name, model=json.dumps(overrides), test_nll=nll.mean(),
                             median_nll=float(np.median(nll)), fit_s=fit_s, score_s=time.perf_counter() - start,
                             n_blocks=model.n_blocks_, n_iter=model.n_iter_,
                             stop=model.stop_reason_))
            print(table(rows[-1:]).splitlines()[-1], flush=True)  # each fit as it ends
        print(table([r for r in rows if r["dataset"] == name]), flush=True)
    return rows


def table(rows):
    lines = ["| data set | model | test NLL | median NLL | fit s | score s | blocks | iters | stop |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['model']} | {r['test_nll']:.3f} "
                     f"| {r['median_nll']:.3f} | {r['fit_s']:.1f} "
                     f"| {r.get('score_s', float('nan')):.2f} | {r.get('n_blocks', '')} "
                     f"| {r.get('n_iter', '')} | {r.get('stop', '')} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--candidates", nargs="+", type=json.loads, default=[{}],
                        help="JSON objects of JKOFlowDensity overrides; {} is the defaults")
    parser.add_argument("--n-toy", type=int, default=5000, help="training and test rows of toys")
    parser.add_argument("--dequantize", action="store_true",
                        help="spread each ODDS column's repeated values over its resolution")
    parser.add_argument("--out", help="JSON file for the rows")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(machine_info(), flush=True)
    start = time.perf_counter()
    rows = run(args.data_dir, args.datasets, args.candidates, args.n_toy, args.dequantize)
    print(f"\nthis run: {time.perf_counter() - start:.0f} s\n\n{table(rows)}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(machine=machine_info(), finished=utc_now(), code=code_version(),
                           rows=rows), f, indent=1, default=str)


if __name__ == "__main__":
    main()
