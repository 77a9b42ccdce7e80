"""The pages of ``scvbench stats``: the study's Tables 2 and 3, figures and the HTML report."""

from __future__ import annotations

import pandas as pd

from scvbench.core.stats import HEMISPHERES, MEASURES
from scvbench.report.figures import png_bytes
from scvbench.report.pages import Markup, data_uri, render

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["boxplots", "forest_plot", "markdown_table", "render_report", "study_table"]


_LABELS = {"diameter": "diameter (mm)", "tortuosity": "tortuosity", "count": "count"}


def _cell(row: dict, digits: int, integer: bool) -> str:
    if row.get("median") is None:
        return "n/a"
    fmt = (lambda v: f"{v:g}") if integer else (lambda v: f"{v:.{digits}f}")
    return f"{fmt(row['median'])} ({fmt(row['q1'])}, {fmt(row['q3'])})"


def _p_text(p) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def study_table(result: dict, comparison: str, columns: list[tuple[str, str]]) -> pd.DataFrame:
    """One of the study's tables: median (Q1, Q3) per group, Z and P per measure and hemisphere."""
    describe = {
        (r["group"], r["measure"], r["hemisphere"]): r
        for r in result["descriptives"]
        if r["comparison"] == comparison
    }
    tests = {
        (r["measure"], r["hemisphere"]): r
        for r in result["mann_whitney"]
        if r["comparison"] == comparison
    }
    groups = list(next(iter(tests.values()))["groups"])
    header = [f"{m} {h[0].upper()}" + (" (mm)" if m == "diameter" else "") for m, h in columns]
    rows = []
    for group in groups:
        rows.append([group] + [_cell(describe[(group, m, h)], 2, m == "count") for m, h in columns])
    rows.append(
        ["Z"]
        + ["n/a" if tests[(m, h)]["Z"] is None else f"{tests[(m, h)]['Z']:.3f}" for m, h in columns]
    )
    rows.append(["P"] + [_p_text(tests[(m, h)]["p"]) for m, h in columns])
    return pd.DataFrame(rows, columns=["group", *header])


def markdown_table(table: pd.DataFrame) -> str:
    """A table as GitHub Markdown."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def boxplots(wide: pd.DataFrame, result: dict) -> bytes:
    """PNG of box plots of the measures by DWML group, per hemisphere."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = {
        (r["measure"], r["hemisphere"]): r
        for r in result["mann_whitney"]
        if r["comparison"] == "dwml"
    }
    fig, axes = plt.subplots(1, 6, figsize=(15, 3.6))
    for ax, (measure, hemisphere) in zip(
        axes, [(m, h) for m in MEASURES for h in HEMISPHERES], strict=True
    ):
        column = f"{measure}_{hemisphere}"
        data = [
            wide.loc[wide["dwml"] == value, column].dropna().to_numpy() if "dwml" in wide else []
            for value in (0, 1)
        ]
        ax.boxplot(data, tick_labels=["N-DWML", "DWML"], widths=0.6, showfliers=True)
        p = tests.get((measure, hemisphere), {}).get("p")
        ax.set_title(f"{_LABELS[measure]}, {hemisphere}\nP {_p_text(p)}", fontsize=9)
        ax.tick_params(labelsize=8)
    fig.tight_layout()
    return png_bytes(fig, dpi=110)


def forest_plot(result: dict) -> bytes:
    """PNG of the odds ratios of DWML with their 95 % CIs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    terms = [t for t in result["logistic"].get("terms", []) if t["name"] != "constant"]
    fig, ax = plt.subplots(figsize=(6, 0.6 + 0.5 * max(len(terms), 1)))
    if not terms:
        ax.text(0.5, 0.5, result["logistic"].get("note", "no model"), ha="center", va="center")
        ax.set_axis_off()
        return png_bytes(fig, dpi=110)
    for y, term in enumerate(terms):
        ax.plot([term["ci_low"], term["ci_high"]], [y, y], color="black")
        ax.plot(term["odds_ratio"], y, "s", color="tab:red")
    ax.axvline(1.0, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(terms)), [t["name"] for t in terms])
    ax.set_xlabel("odds ratio of DWML (95 % CI)")
    fig.tight_layout()
    return png_bytes(fig, dpi=110)


def render_report(result: dict, table2: pd.DataFrame, table3: pd.DataFrame, figures: dict) -> str:
    """``report.html`` of ``scvbench stats``: Tables 2 and 3, logistic regression, figures."""

    def frame(table: pd.DataFrame) -> Markup:
        return Markup(table.to_html(index=False, border=0, classes="t", escape=True))

    return render(
        "stats.html",
        title="scvbench group statistics",
        result=result,
        table2=frame(table2),
        table3=frame(table3),
        p_text=_p_text,
        figures=[(title, data_uri(data)) for title, data in figures.items()],
    )
