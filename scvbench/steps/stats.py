"""``scvbench stats``: the study's analysis from files to tables, figures and a group report.

Inputs: the group morphometry table of ``scvbench morph`` (one row per participant and
hemisphere), ``participants.tsv`` (``participant_id``, ``sex``, and ``age`` /
``education_years`` when present) and ``phenotype/fazekas.tsv`` (``participant_id``,
``fazekas_dwm``; DWML = score >= 1, N-DWML = 0, as in the study). Outputs in ``OUT_DIR``:
``stats.json``, ``table2.md``/``.csv`` (count by sex), ``table3.md``/``.csv`` (N-DWML vs DWML),
``boxplots.png``, ``forest.png`` and ``report.html``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from scvbench import __version__, io
from scvbench.bids.tables import load_wide
from scvbench.core.stats import HEMISPHERES, MEASURES, run_study
from scvbench.errors import ScvbenchError
from scvbench.report.stats import boxplots, forest_plot, markdown_table, render_report, study_table

__all__ = ["SCHEMA_VERSION", "run_stats"]

SCHEMA_VERSION = "1.0"


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
    """Run the study's statistics and write every output to ``out_dir``; return the result.

    Parameters
    ----------
    morph : path
        The group morphometry table.
    participants : path
        ``participants.tsv``.
    out_dir : path
        Where the outputs go.
    phenotype : path, optional
        ``phenotype/fazekas.tsv`` (DWML = ``fazekas_dwm`` >= 1).
    fdr : bool
        Add Benjamini-Hochberg adjusted P values.
    terms : list of str, optional
        Logistic predictors.

    Returns
    -------
    dict
        What ``stats.json`` holds.
    """
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
    table2 = study_table(result, "sex", [("count", "right"), ("count", "left")])
    figures = {}
    io.write_text(out / "table2.md", markdown_table(table2))
    io.write_text(out / "table2.csv", table2.to_csv(index=False))
    if "dwml" in wide:
        columns = [(m, h) for m in MEASURES for h in HEMISPHERES]
        table3 = study_table(result, "dwml", columns)
        io.write_text(out / "table3.md", markdown_table(table3))
        io.write_text(out / "table3.csv", table3.to_csv(index=False))
        figures["Box plots by DWML group"] = boxplots(wide, result)
        figures["Odds ratios of DWML"] = forest_plot(result)
        io.write_bytes(out / "boxplots.png", figures["Box plots by DWML group"])
        io.write_bytes(out / "forest.png", figures["Odds ratios of DWML"])
    else:
        table3 = pd.DataFrame({"note": ["no Fazekas ratings given (--phenotype)"]})
    io.write_text(out / "report.html", render_report(result, table2, table3, figures))
    return result
