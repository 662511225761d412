"""Test NLL against wall seconds: skjko's defaults beside zuko's flows, each to its own stop.

skjko is ``JKOFlowDensity(random_state=0)`` (plus the part's ``jko`` overrides), its
flow snapshotted after every block of every round (:func:`.procedure.fit_jko_with_snapshots`)
and each snapshot scored on the test rows afterwards, outside the clock; its last point
is the fitted model. zuko's MAF, NSF and CNF are trained as their users train them
(:func:`.peers.train_zuko`: Adam 1e-3, gradients unclipped in the full suite
(``zuko.max_grad_norm``), validation every epoch, stopped after
``patience`` epochs without gain, at most ``peer_seconds``); at every check the test
NLL of the iterate that early stopping would keep (the best on validation so far) is
the curve's point, the checks' own time left out. The curves are scored on the same
``curve_rows`` test rows for every method (the CNF's exact trace makes a full scoring at
every check take longer than its training), and so are the crossings; each fitted model's
NLL on every test row is the table's. Run it alone, one thread:

    python -m benchmarks run --suite full --parts anytime --data-dir ../shared/data

and on the real sets, beside MAF and NSF (``--set dequantize=true`` spreads each ODDS
column's values over its grid step first, as ``defaults`` does):

    python -m benchmarks run --suite full --parts anytime --datasets miniboone digits wbc \
        pima vowels letter cardio satellite pendigits shuttle --set 'peers=["MAF", "NSF"]' \
        --data-dir ../shared/data
"""

import math

import numpy as np

from ..common import load_any, pyplot
from .peers import epoch_steps, flow_log_density, train_zuko
from .procedure import fit_jko_with_snapshots


def skjko_curve(X_train, X_test, X_curve, overrides):
    """(points, info): test NLL after every block and round against the fit's seconds."""
    model, snapshots, seconds = fit_jko_with_snapshots(dict(random_state=0, **overrides),
                                                       X_train)
    points = [dict(seconds=s["seconds"], nll=-float(flow_log_density(s["flow"], X_curve).mean()),
                   stage=f"{s['row']['round']} {s['row']['block']}") for s in snapshots]
    final = dict(seconds=seconds, nll=-float(model.score(X_curve)),
                 test_nll=-float(model.score(X_test)), stage="fitted")
    return points + [final], dict(n_blocks=model.n_blocks_, n_iter=model.n_iter_)


def zuko_curve(kind, X_train, X_test, X_curve, settings):
    """(points, info): at every validation check, the test NLL of the iterate kept so far."""
    checks = []

    def on_check(density, seconds, val_nll):
        checks.append(dict(seconds=seconds, val_nll=val_nll,
                           nll=-float(density.score_samples(X_curve).mean())))

    # One validation check an epoch.
    epoch = epoch_steps(len(X_train), settings["zuko"]["batch_size"])
    model, info = train_zuko(kind, X_train, settings["peer_seconds"], eval_every=epoch,
                             on_check=on_check, **settings["zuko"])
    points, kept = [], None
    for check in checks:
        if math.isfinite(check["val_nll"]) and (kept is None
                                                or check["val_nll"] < kept["val_nll"]):
            kept = check
        points.append(dict(seconds=check["seconds"], nll=math.inf if kept is None
                           else kept["nll"]))
    points.append(dict(seconds=info["seconds"], nll=-float(model.score_samples(X_curve).mean()),
                       test_nll=-float(model.score_samples(X_test).mean()), stage="fitted"))
    return points, info


def first_time_at_or_below(points, target):
    """Seconds of the first point whose NLL is at most ``target``; None if none is."""
    return next((p["seconds"] for p in points if p["nll"] <= target), None)


def run(settings, data_dir):
    """One row per data set and method: the curve, the final NLL and seconds."""
    rows = []
    for name in settings["datasets"]:
        X_train, X_test = load_any(name, data_dir, settings["n_toy"],
                                   settings.get("dequantize", False))
        curve_rows = np.random.default_rng(0).permutation(len(X_test))[:settings["curve_rows"]]
        X_curve = X_test[np.sort(curve_rows)]
        points, info = skjko_curve(X_train, X_test, X_curve, settings["jko"])
        rows.append(dict(dataset=name, method="skjko", points=points, info=info))
        print(f"  anytime {name} skjko: {points[-1]}", flush=True)
        for kind in settings["peers"]:
            points, info = zuko_curve(kind, X_train, X_test, X_curve, settings)
            rows.append(dict(dataset=name, method=kind, points=points, info=info))
            print(f"  anytime {name} {kind}: {points[-1]} {info}", flush=True)
    return rows


def table(rows):
    """Final NLL and seconds per data set and method, and where the curves cross skjko's."""
    lines = ["Test NLL on every test row; the crossings on the curves' rows: the seconds at "
             "which skjko's curve first reaches the method's final NLL, and the method's curve "
             "skjko's.", "",
             "| data set | method | test NLL | fit s | skjko's curve at this NLL (s) "
             "| this curve at skjko's NLL (s) |", "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        mine = {r["method"]: r["points"] for r in rows if r["dataset"] == name}
        skjko = mine["skjko"]
        for method, points in mine.items():
            final = points[-1]
            if method == "skjko":
                crossings = "", ""
            else:
                crossings = tuple(_seconds(first_time_at_or_below(a, b[-1]["nll"]))
                                  for a, b in ((skjko, points), (points, skjko)))
            lines.append(f"| {name} | {method} | {final['test_nll']:.3f} | {final['seconds']:.1f} "
                         f"| {crossings[0]} | {crossings[1]} |")
    return "\n".join(lines)


def _seconds(value):
    return "never" if value is None else f"{value:.1f}"


#: Mean NLLs beyond this (nats) are off the figure's scale; the table has them.
MAX_PLOTTED_NLL = 1e6


def plot(rows, path):
    """One panel per data set: test NLL against seconds (log scale), one line per method."""
    plt = pyplot()
    names = list(dict.fromkeys(r["dataset"] for r in rows))
    n_cols = min(len(names), 5)
    n_rows = math.ceil(len(names) / n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(4.2 * n_cols, 3.6 * n_rows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names):
        finals = []
        for r in (r for r in rows if r["dataset"] == name):
            # A mean NLL can be infinite or astronomical (a few test rows far outside the
            # training range): such points are left out, and the legend says so.
            points = [p for p in r["points"] if abs(p["nll"]) < MAX_PLOTTED_NLL]
            label = r["method"] if points else f"{r['method']} (off the scale)"
            ax.plot([p["seconds"] for p in points], [p["nll"] for p in points], "o-",
                    markersize=3, label=label)
            finals.extend(points[-1:])
        ax.set_xscale("log")
        if finals:  # every final in view, the early climb cut
            low, high = min(p["nll"] for p in finals), max(p["nll"] for p in finals)
            ax.set_ylim(low - 0.1 * (high - low) - 1, high + 0.5 * (high - low) + 2)
        ax.set_xlabel("wall seconds (one thread)")
        ax.set_ylabel("NLL on the curves' test rows")
        ax.set_title(name)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
