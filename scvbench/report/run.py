"""The BIDS-App's pages: ``OUTPUT_DIR/sub-<label>.html`` and ``OUTPUT_DIR/group_report.html``.

The participant page shows the measured MinIP slice with the model's vein outlines (and the
reference raters' where the dataset has them), the per-hemisphere morphometry and every vessel.
The group page gathers the participants (a table linking each page, distributions of the
measures), the study's statistics and, when reference masks exist, the evaluation's headline
scores, each linking the full report. Figures are embedded PNG: each page is one file.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from scvbench import io
from scvbench.bids.spec import DERIVATIVES
from scvbench.bids.spec import sidecar as json_sidecar
from scvbench.bids.tables import load_covariates
from scvbench.report.figures import png_bytes
from scvbench.report.pages import Markup, number, render
from scvbench.report.qc import RATER_COLOURS, draw_panel, png_base64, rater_masks
from scvbench.results import EvaluationResult

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["group_report", "participant_report"]

MODEL_COLOUR = "#ff33cc"
#: The group level's folder in ``OUTPUT_DIR`` (statistics and evaluation).
GROUP_DIR = "group"


def _esc(value) -> str:
    return html.escape(str(value))


def _page(title: str, body: list[str]) -> str:
    """A report page: ``body`` holds HTML fragments whose values were escaped with ``_esc``."""
    return render("fragments.html", title=title, body=[Markup(part) for part in body])


def _rows(rows) -> str:
    return (
        "<table>"
        + "".join(f"<tr><th>{_esc(k)}</th><td>{v}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _frame(table: pd.DataFrame, digits: int = 3) -> str:
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: number(v, digits))
    return shown.to_html(index=False, border=0, escape=True, na_rep="n/a")


def participant_report(
    bids_dir: Path,
    out: Path,
    label: str,
    model: str,
    identity: str,
    vessels: pd.DataFrame,
    summary: pd.DataFrame,
) -> Path:
    """Write ``OUT/sub-<label>.html``; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    deriv = out / "scvbench"

    def load(path: Path) -> np.ndarray:
        return np.asanyarray(nib.load(path).dataobj)

    sidecar = json.loads((deriv / DERIVATIVES["minip"].relpath(label, ".json")).read_text())
    minip = load(deriv / DERIVATIVES["minip"].relpath(label))
    brain = load(deriv / DERIVATIVES["brain_mask"].relpath(label)) > 0
    hemi = load(deriv / DERIVATIVES["hemispheres"].relpath(label))
    mask_path = out / model / DERIVATIVES["vein_mask"].relpath(label)
    predicted = load(mask_path) > 0
    mask_sidecar = json.loads(json_sidecar(mask_path).read_text())
    raters = {
        name: load(path) > 0
        for name, path in rater_masks(bids_dir, label).items()
        if nib.load(path).shape == minip.shape
    }
    measured = [int(k) for k in str(summary["slices"].iloc[0]).split() if k.isdigit()]
    slice_ = measured[0] if measured else int(sidecar["AnalysisSlice"])
    low, high = sidecar["ExportWindow"]
    colours = dict(zip(raters, RATER_COLOURS * 4, strict=False))
    outlines = [(MODEL_COLOUR, predicted[:, :, slice_])]
    outlines += [(colours[name], mask[:, :, slice_]) for name, mask in raters.items()]
    fig, axes = plt.subplots(1, 2, figsize=(10, 5.2), facecolor="black")
    args = (minip[:, :, slice_], brain[:, :, slice_], hemi[:, :, slice_])
    draw_panel(axes[0], *args, [], low, high, f"MinIP slice {slice_}")
    draw_panel(axes[1], *args, outlines, low, high, f"veins: {model}")
    figure = png_base64(fig, dpi=110)

    legend = f'<span style="background:{MODEL_COLOUR}"></span>veins, {_esc(model)} (solid)'
    for index, name in enumerate(raters, start=1):
        style = ("solid", "dashed", "dotted", "dashdot")[index % 4]
        legend += f'<span style="background:{colours[name]}"></span>{_esc(name)} ({style})'
    legend += '<span style="background:#ffd11a"></span>brain'
    legend += '<span style="background:#1ad1ff"></span>hemisphere border'
    per_hemisphere = summary.drop(columns=["participant_id"])
    body = [
        f"<h1>sub-{_esc(label)}: superficial cerebral veins</h1>",
        _rows(
            [
                ("Model", f"{_esc(model)} ({_esc(identity)})"),
                ("Threshold", _esc(mask_sidecar.get("Threshold"))),
                ("Predicted slices", _esc(mask_sidecar.get("PredictedSlices"))),
                ("Measured slice", f"{slice_} (analysis slice {sidecar['AnalysisSlice']})"),
                (
                    "MinIP",
                    f"{sidecar['SlabThicknessMM']:g} mm slab every {sidecar['SlabStepMM']:g} mm",
                ),
                ("Reference raters", _esc(", ".join(raters) or "none")),
                (
                    "Quality control",
                    f"<a href='scvbench/sourcedata/qc/sub-{_esc(label)}.html'>MinIP, brain and "
                    "hemisphere masks</a>",
                ),
            ]
        ),
        f"<p class='legend'>{legend}</p>",
        "<p class='note'>Anterior up; the patient's right on the left (radiological view).</p>",
        f"<img alt='veins on slice {slice_}' src='data:image/png;base64,{figure}'>",
        "<h2>Morphometry per hemisphere</h2>",
        _frame(per_hemisphere),
        f"<details><summary>Every vessel ({len(vessels)}, all predicted slices)</summary>",
        _frame(vessels),
        "</details>",
    ]
    path = out / f"sub-{label}.html"
    io.write_text(path, _page(f"sub-{label}: scvbench", body))
    return path


def _distributions(table: pd.DataFrame, groups: pd.Series | None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = [("count", "count"), ("tortuosity", "tortuosity"), ("diameter_mm", "diameter (mm)")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    rng = np.random.default_rng(0)
    for axis, (column, title) in zip(axes, measures, strict=True):
        for position, side in enumerate(("left", "right")):
            part = table[table["hemisphere"] == side]
            values = part[column].to_numpy(float)
            keep = np.isfinite(values)
            if keep.any():
                axis.boxplot(values[keep], positions=[position], widths=0.5, showfliers=False)
            jitter = position + rng.uniform(-0.15, 0.15, values.size)
            if groups is not None:
                colour = (
                    part["participant_id"].map(groups).map({"DWML": "#d62728", "N-DWML": "#1f77b4"})
                )
                axis.scatter(jitter, values, s=14, c=colour.fillna("#7f7f7f").tolist(), zorder=3)
            else:
                axis.scatter(jitter, values, s=14, c="#1f77b4", zorder=3)
        axis.set_xticks([0, 1], ["left", "right"])
        axis.set_title(title)
    if groups is not None:
        for name, colour in (("N-DWML", "#1f77b4"), ("DWML", "#d62728")):
            axes[0].scatter([], [], c=colour, s=14, label=name)
        axes[0].legend(frameon=False, fontsize=8)
    fig.tight_layout()

    return base64.b64encode(png_bytes(fig, dpi=90)).decode("ascii")


def group_report(
    bids_dir: Path,
    out: Path,
    model: str,
    identity: str,
    table: pd.DataFrame,
    stats: dict | None,
    evaluation: EvaluationResult | None,
    notes: list[str],
) -> Path:
    """Write ``OUT/group_report.html``; returns its path."""
    ids = sorted(table["participant_id"].unique())
    phenotype = bids_dir / "phenotype" / "fazekas.tsv"
    covariates = load_covariates(
        bids_dir / "participants.tsv", phenotype if phenotype.is_file() else None, ids
    )
    groups = covariates["dwml"].map({0.0: "N-DWML", 1.0: "DWML"}) if "dwml" in covariates else None
    wide = table.pivot(index="participant_id", columns="hemisphere")
    rows = []
    for pid in ids:
        info = covariates.loc[pid].to_dict()
        row = {
            "participant": f"<a href='{_esc(pid)}.html'>{_esc(pid)}</a>",
            "sex": _esc(info.get("sex", "n/a")),
            "age": number(info.get("age"), 0),
        }
        if groups is not None:
            row["DWML"] = _esc(groups.get(pid, "n/a"))
        for column in ("count", "tortuosity", "diameter_mm"):
            for side in ("right", "left"):
                row[f"{column} {side[0].upper()}"] = number(
                    float(wide.loc[pid, (column, side)]), 0 if column == "count" else 3
                )
        rows.append(row)
    header = "".join(f"<th>{_esc(k)}</th>" for k in rows[0])
    body_rows = "".join(
        "<tr>" + "".join(f"<td>{v}</td>" for v in r.values()) + "</tr>" for r in rows
    )

    body = [
        "<h1>Superficial cerebral veins: group report</h1>",
        f"<p class='note'>{len(ids)} participants segmented by {_esc(model)} "
        f"({_esc(identity)}); morphometry of the measured slice of each participant "
        f"(<a href='{_esc(model)}/acq-swi_desc-scv_morph.tsv'>group table</a>).</p>",
    ]
    body += [f"<p class='warn'>{_esc(note)}</p>" for note in notes]
    body += [
        "<h2>Distributions per hemisphere</h2>",
        f"<img alt='distributions' src='data:image/png;base64,{_distributions(table, groups)}'>",
    ]
    if stats is not None:
        tests = [
            t
            for t in stats["mann_whitney"]
            if t["comparison"] in ("dwml", "sex") and t["p"] is not None
        ]
        test_rows = "".join(
            f"<tr><td>{_esc(t['measure'])}</td><td>{_esc(t['hemisphere'])}</td>"
            f"<td>{_esc(' vs '.join(t['groups']))}</td><td>{t['n1']} / {t['n2']}</td>"
            f"<td>{number(t['Z'])}</td><td>{number(t['p'])}</td></tr>"
            for t in tests
        )
        logistic = stats.get("logistic", {})
        kept = ", ".join(
            f"{t['name']} (OR {t['odds_ratio']:.4g}, P {number(t['p'])})"
            for t in logistic.get("terms", [])
            if t["name"] != "constant"
        )
        body += [
            "<h2>Group statistics (Mann-Whitney U)</h2>",
            "<table><tr><th>measure</th><th>hemisphere</th><th>groups</th><th>n</th>"
            f"<th>Z</th><th>P</th></tr>{test_rows}</table>",
            f"<p>Logistic regression of DWML: {_esc(kept or logistic.get('note', 'not run'))}</p>"
            if "dwml" in {t["comparison"] for t in tests}
            else "",
            f"<p><a href='{GROUP_DIR}/stats/report.html'>Full statistics report</a> "
            "(tables 2 and 3, logistic regression, correlations, normality).</p>",
        ]
    if evaluation is not None:
        seg = evaluation.segmentation.overall
        morph = evaluation.morphometry
        reference = evaluation.reference
        score_rows = [
            (
                name,
                f"{number(seg[key].mean)} ({number(seg[key].ci_low)}, {number(seg[key].ci_high)})",
            )
            for name, key in (
                ("Dice", "dice"),
                ("clDice", "cldice"),
                ("HD95 (mm)", "hd95_mm"),
                ("Betti-0 error", "betti0_error"),
            )
            if key in seg
        ]
        for side in ("right", "left"):
            for measure in ("tortuosity", "diameter_mm", "count"):
                agreement = morph.get(side, {}).get(measure)
                value = None if agreement is None else agreement.icc_a1
                score_rows.append((f"ICC(A,1) {measure} {side}", number(value)))
        reproduction = evaluation.association.get("reference", {})
        if reproduction.get("reproduction_score") is not None:
            score_rows.append(
                ("Association reproduction", number(reproduction["reproduction_score"], 2))
            )
        body += [
            f"<h2>Evaluation against the reference masks ({_esc(reference.rater)}, "
            f"{_esc(reference.split)} split, "
            f"{evaluation.segmentation.n_cases} slices)</h2>",
            "<p class='note'>Mean (bootstrap 95 % CI) over the slices.</p>",
            _rows([(k, _esc(v)) for k, v in score_rows]),
            f"<p><a href='{GROUP_DIR}/evaluation/report.html'>Full evaluation report</a>.</p>",
        ]
        if evaluation.problems:
            body.append(
                f"<p class='warn'>{len(evaluation.problems)} problem(s) with the predictions; "
                "see the evaluation report.</p>"
            )
    body += [
        "<h2>Participants</h2>",
        f"<table><tr>{header}</tr>{body_rows}</table>",
    ]
    path = out / "group_report.html"
    io.write_text(path, _page("scvbench group report", body))
    return path
