"""The figure of ``scvbench power``: power against cohort size, per measurement condition."""

from __future__ import annotations

import pandas as pd

from scvbench.report.figures import png_bytes

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["power_figure"]

_STYLE = {
    "error-free": ("#222222", "perfect measurement"),
    "model": ("#1f77b4", "the model's measurements"),
    "human": ("#d62728", "the human reference"),
}


def power_figure(table: pd.DataFrame, powers: tuple[float, ...], document: dict) -> bytes:
    """PNG of each condition's simulated power (Monte-Carlo band) and the analytic curve.

    Parameters
    ----------
    table : DataFrame
        ``condition``, ``n``, ``power``, ``ci_low``, ``ci_high`` and ``analytic``.
    powers : tuple of float
        Target powers drawn as horizontal lines.
    document : dict
        ``power.json`` (effect and test, for the title).

    Returns
    -------
    bytes
        The PNG.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.2))
    for name, part in table.groupby("condition", sort=False):
        colour, label = _STYLE.get(name, ("#2ca02c", name))
        axis.plot(part["n"], part["power"], color=colour, marker=".", label=label)
        axis.fill_between(part["n"], part["ci_low"], part["ci_high"], color=colour, alpha=0.15)
        axis.plot(part["n"], part["analytic"], color=colour, linestyle=":", linewidth=1)
    for target in powers:
        axis.axhline(target, color="#888888", linewidth=0.8, linestyle="--")
    effect = document["effect"]
    ratio = document["ratio"]
    axis.set(
        xlabel=f"participants ({effect['groups'][0]} : {effect['groups'][1]} = "
        f"{ratio[0]} : {ratio[1]})",
        ylabel=f"power ({document['test']}, alpha {document['alpha']})",
        ylim=(0, 1.02),
        title=f"{effect['hemisphere']} {effect['measure']} (synthetic effect: dotted = analytic)"
        if "synthetic" in effect["source"]
        else f"{effect['hemisphere']} {effect['measure']} (dotted = analytic)",
    )
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    return png_bytes(figure, tight=False)
