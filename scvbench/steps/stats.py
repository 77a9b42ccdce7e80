"""``scvbench stats``: the study's analysis from files to tables, figures and a group report.

Inputs: the group morphometry table of ``scvbench morph`` (one row per participant and
hemisphere), ``participants.tsv`` (``participant_id``, ``sex``, and ``age`` /
``education_years`` when present) and ``phenotype/fazekas.tsv`` (``participant_id``,
``fazekas_dwm``; DWML = score >= 1, N-DWML = 0, as in the study). Outputs in ``OUT_DIR``:
``stats.json``, ``table2.md``/``.csv`` (count by sex), ``table3.md``/``.csv`` (N-DWML vs DWML),
``boxplots.png``, ``forest.png`` and ``report.html``.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

from scvbench import __version__, io
from scvbench.bids.tables import load_wide
from scvbench.core.stats import HEMISPHERES, MEASURES, run_study
from scvbench.errors import ScvbenchError
from scvbench.report.figures import png_bytes

__all__ = ["SCHEMA_VERSION", "run_stats"]

SCHEMA_VERSION = "1.0"
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


def _table(result: dict, comparison: str, columns: list[tuple[str, str]]) -> pd.DataFrame:
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


def _markdown(table: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def _boxplots(wide: pd.DataFrame, result: dict) -> bytes:
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


def _forest(result: dict) -> bytes:
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


def _report(result: dict, table2: pd.DataFrame, table3: pd.DataFrame, figures: dict) -> str:
    def frame(table):
        return table.to_html(index=False, border=0, classes="t", escape=True)

    def number(value) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    logistic = result["logistic"]
    rows = "".join(
        f"<tr><td>{html.escape(t['name'])}</td><td>{t['coef']:.3f}</td><td>{t['se']:.3f}</td>"
        f"<td>{number(t['wald'])}</td><td>{_p_text(t['p'])}</td>"
        f"<td>{t['odds_ratio']:.3f}</td><td>{t['ci_low']:.3f} - {t['ci_high']:.3f}</td></tr>"
        for t in logistic.get("terms", [])
    )
    note = html.escape(logistic.get("note", ""))
    corr = "".join(
        f"<tr><td>{c['covariate']}</td><td>{c['measure']} {c['hemisphere']}</td>"
        f"<td>{number(c['rho'])}</td><td>{_p_text(c['p'])}</td></tr>"
        for c in result["correlations"]
    )
    normal = "".join(
        f"<tr><td>{n['measure']} {n['hemisphere']}</td><td>{n['n']}</td>"
        f"<td>{number(n['D'])}</td><td>{_p_text(n['p'])}</td></tr>"
        for n in result["normality"]
    )
    images = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
        f"src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
        for title, data in figures.items()
    )
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>scvbench group statistics</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1150px;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}}
td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}}
h2{{font-size:1.1em;margin-top:1.5em}}img{{max-width:100%}}.note{{color:#555}}</style></head><body>
<h1>Superficial cerebral veins: group statistics</h1>
<p class="note">{result["n"]} participants; Mann-Whitney U with the normal approximation
(tie-corrected, no continuity correction), median (Q1, Q3) with SPSS's weighted-average
percentiles; scvbench {html.escape(__version__)}.</p>
<h2>Table 2: vessel count by sex</h2>{frame(table2)}
<h2>Table 3: N-DWML vs DWML</h2>{frame(table3)}
<h2>Logistic regression of DWML</h2>
<table><tr><th>term</th><th>B</th><th>SE</th><th>Wald</th><th>P</th><th>OR</th>
<th>95 % CI</th></tr>{rows}</table>
<p class="note">{note}</p>
<h2>Age and education (Spearman)</h2>
<table><tr><th>covariate</th><th>measure</th><th>rho</th><th>P</th></tr>{corr}</table>
<h2>Normality (Kolmogorov-Smirnov, Lilliefors)</h2>
<table><tr><th>measure</th><th>n</th><th>D</th><th>P</th></tr>{normal}</table>
{images}
</body></html>
"""


def _jsonable(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def run_stats(
    morph: str | Path,
    participants: str | Path,
    out_dir: str | Path,
    phenotype: str | Path | None = None,
    fdr: bool = False,
    terms: list[str] | None = None,
) -> dict:
    """Run the study's statistics and write every output to ``out_dir``; return the result."""
    wide = load_wide(morph, participants, phenotype)
    if terms is not None:
        known = [f"{m}_{h}" for m in MEASURES for h in HEMISPHERES]
        bad = [t for t in terms if t not in known]
        if bad:
            raise ScvbenchError(f"--terms {bad}: choose from {', '.join(known)}")
    result = run_study(wide, fdr=fdr, terms=terms)
    result = _jsonable(
        {"schema_version": SCHEMA_VERSION, "scvbench_version": __version__, **result}
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    io.write_json(out / "stats.json", result)
    io.write_text(out / "participants_wide.tsv", wide.to_csv(sep="\t", index=False, na_rep="n/a"))
    table2 = _table(result, "sex", [("count", "right"), ("count", "left")])
    figures = {}
    io.write_text(out / "table2.md", _markdown(table2))
    io.write_text(out / "table2.csv", table2.to_csv(index=False))
    if "dwml" in wide:
        columns = [(m, h) for m in MEASURES for h in HEMISPHERES]
        table3 = _table(result, "dwml", columns)
        io.write_text(out / "table3.md", _markdown(table3))
        io.write_text(out / "table3.csv", table3.to_csv(index=False))
        figures["Box plots by DWML group"] = _boxplots(wide, result)
        figures["Odds ratios of DWML"] = _forest(result)
        io.write_bytes(out / "boxplots.png", figures["Box plots by DWML group"])
        io.write_bytes(out / "forest.png", figures["Odds ratios of DWML"])
    else:
        table3 = pd.DataFrame({"note": ["no Fazekas ratings given (--phenotype)"]})
    io.write_text(out / "report.html", _report(result, table2, table3, figures))
    return result
