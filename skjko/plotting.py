"""Plots of a fitted flow's training history (matplotlib, imported on use)."""


def plot_history(history, axes=None):
    """Plot per-block losses, validation NLL and W2 movement, one line per round.

    Parameters
    ----------
    history : list of dict or JKOFlowDensity
        ``JKOFlowDensity.history_``, or a fitted estimator.
    axes : sequence of 3 matplotlib Axes, optional
        Where to draw; a new figure with three panels when None.

    Returns
    -------
    axes : ndarray of 3 matplotlib Axes
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plot_history needs matplotlib: pip install 'skjko[examples]'") from exc
    history = getattr(history, "history_", history)
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    panels = (("kl_loss", "training KL part (nats)"), ("val_nll", "validation NLL (nats)"),
              ("w2_movement", "W2 movement E‖T(x) − x‖²"))
    rounds = list(dict.fromkeys(record["round"] for record in history))
    for ax, (key, title) in zip(axes, panels):
        for name in rounds:
            rows = [r for r in history if r["round"] == name]
            ax.plot([r["block"] for r in rows], [r[key] for r in rows], marker="o", label=name)
        ax.set_title(title)
        ax.set_xlabel("block")
    axes[0].legend(fontsize="small")
    return axes
