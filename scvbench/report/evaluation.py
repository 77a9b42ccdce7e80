"""The self-contained HTML report of ``scvbench evaluate``.

Sections: the scores (mean, 95 % CI, median) beside the human reference; per hemisphere; box
plots of the per-slice Dice, clDice and HD95; Bland-Altman plots of the morphometry per measure
and hemisphere; the association reproduction tests; a gallery of the worst cases (lowest Dice):
the MinIP slice with the reference in green, the prediction in magenta and their overlap in
white; and the problems found in the submission.
"""

from __future__ import annotations

import base64
import html

import numpy as np
import pandas as pd

from scvbench import __version__
from scvbench.report.figures import png_bytes
from scvbench.results import EvaluationResult

__all__ = [
    "GALLERY",
    "summary_markdown",
    "write_report",
]

#: Number of worst cases shown.
GALLERY = 6


def _img(data: bytes, alt: str) -> str:
    return (
        f"<img alt='{html.escape(alt)}' src='data:image/png;base64,"
        f"{base64.b64encode(data).decode()}'>"
    )


def _number(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _boxplots(cases: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for axis, name in zip(axes, ("dice", "cldice", "hd95_mm"), strict=True):
        axis.boxplot(cases[name].to_numpy(float), widths=0.5)
        axis.set_title(name)
        axis.set_xticks([])
    figure.tight_layout()
    return png_bytes(figure)


def _bland_altman(pairs: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = (("count", "count"), ("diameter_mm", "diameter (mm)"), ("tortuosity", "tortuosity"))
    figure, axes = plt.subplots(2, 3, figsize=(11, 6))
    for row, side in enumerate(("left", "right")):
        part = pairs[pairs["hemisphere"] == side]
        for col, (name, title) in enumerate(measures):
            axis = axes[row, col]
            sub = part[f"{name}_submission"].to_numpy(float)
            ref = part[f"{name}_reference"].to_numpy(float)
            keep = np.isfinite(sub) & np.isfinite(ref)
            mean, diff = (sub[keep] + ref[keep]) / 2, sub[keep] - ref[keep]
            axis.scatter(mean, diff, s=12, alpha=0.7)
            if diff.size > 1:
                bias, sd = diff.mean(), diff.std(ddof=1)
                for level, style in (
                    (bias, "-"),
                    (bias - 1.96 * sd, "--"),
                    (bias + 1.96 * sd, "--"),
                ):
                    axis.axhline(level, color="k", linestyle=style, linewidth=0.8)
            axis.set_title(f"{title}, {side}", fontsize=9)
            axis.set_xlabel("mean of submission and reference", fontsize=8)
            axis.set_ylabel("submission - reference", fontsize=8)
    figure.tight_layout()
    return png_bytes(figure)


def _gallery(cases: pd.DataFrame, images: dict) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    worst = cases.sort_values("dice").head(GALLERY)
    tiles = []
    for _, case in worst.iterrows():
        key = (case["participant_id"], int(case["slice"]))
        if key not in images:
            continue
        minip, reference, prediction = images[key]
        lo, hi = np.percentile(minip, [1, 99])
        grey = np.clip((minip - lo) / max(hi - lo, 1e-6), 0, 1)
        rgb = np.stack([grey] * 3, axis=-1)
        rgb[reference & ~prediction] = (0.1, 0.85, 0.2)
        rgb[prediction & ~reference] = (0.9, 0.1, 0.8)
        rgb[prediction & reference] = (1.0, 1.0, 1.0)
        figure, axis = plt.subplots(figsize=(3.2, 3.2))
        axis.imshow(np.rot90(rgb))  # rows run left to right (RAS+): anterior up, right on the right
        axis.set_axis_off()
        axis.set_title(f"{key[0]} slice {key[1]}: Dice {case['dice']:.3f}", fontsize=8)
        tiles.append(_img(png_bytes(figure, dpi=90), f"{key[0]} slice {key[1]}"))
    return "".join(f"<div class='tile'>{t}</div>" for t in tiles)


def write_report(
    result: EvaluationResult, cases: pd.DataFrame, pairs: pd.DataFrame, images: dict
) -> str:
    """The report's HTML; ``images`` maps (participant, slice) to (MinIP, reference, prediction)."""
    seg = result.segmentation
    human = result.human_reference or {}
    rows = "".join(
        f"<tr><td>{name}</td><td>{_number(s.mean)}</td><td>{_number(s.ci_low)} - "
        f"{_number(s.ci_high)}</td><td>{_number(s.median)}</td><td>"
        f"{_number(human.get('overall', {}).get(name, {}).get('mean'))}</td></tr>"
        for name, s in seg.overall.items()
    )
    hemi_rows = "".join(
        f"<tr><td>{name}</td>"
        + "".join(
            f"<td>{_number(seg.hemispheres[side][name].mean)}</td>" for side in ("left", "right")
        )
        + "</tr>"
        for name in seg.overall
    )
    morph_rows = "".join(
        f"<tr><td>{side}</td><td>{name}</td><td>{a.n}</td><td>{_number(a.icc_a1)}</td>"
        f"<td>{_number(a.icc_c1)}</td><td>{_number(a.bias)}</td><td>{_number(a.loa_low)}"
        f" to {_number(a.loa_high)}</td><td>{_number(a.mae)}</td></tr>"
        for side, measures in result.morphometry.items()
        for name, a in measures.items()
    )
    association = result.association
    assoc_html = f"<p class='note'>{html.escape(association.get('note', ''))}</p>"
    if "reference" in association:
        score = association["reference"]["reproduction_score"]
        tests = "".join(
            f"<tr><td>{t['comparison']}</td><td>{t['measure']}</td><td>{t['hemisphere']}</td>"
            f"<td>{_number(t['Z'])}</td><td>{_number(t['Z_comparison'])}</td>"
            f"<td>{'yes' if t['reproduced'] else 'no'}</td></tr>"
            for t in association["reference"]["tests"]
        )
        published = association.get("published")
        assoc_html = (
            f"<p>Reproduction score against the reference masks: <b>{_number(score, 2)}</b>"
            + (
                f"; against the published study: <b>"
                f"{_number(published['reproduction_score'], 2)}</b>"
                if published
                else ""
            )
            + f" ({association['n_participants']} participants).</p>"
            "<table><tr><th>comparison</th><th>measure</th><th>hemisphere</th><th>Z</th>"
            f"<th>Z reference</th><th>reproduced</th></tr>{tests}</table>"
        )
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in result.problems) or "<li>none</li>"
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>scvbench evaluation</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1150px;color:#222}}
table{{border-collapse:collapse;margin:.5em 0}}
td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}}
h2{{font-size:1.1em;margin-top:1.5em}}img{{max-width:100%}}.note{{color:#555}}
.tile{{display:inline-block;margin:4px}}</style></head><body>
<h1>Evaluation of {html.escape(str(result.model or "a submission"))}</h1>
<p class="note">Split {html.escape(result.reference.split)}, reference rater
{html.escape(result.reference.rater)}; {seg.n_cases} slices, {seg.n_invalid} scored
as worst case; scvbench {html.escape(__version__)}.</p>
<h2>Segmentation (inside the brain mask)</h2>
<table><tr><th>score</th><th>mean</th><th>95 % CI</th><th>median</th>
<th>human reference{(" (" + html.escape(human["rater"]) + ")") if human else ""}</th></tr>
{rows}</table>
<h2>Per hemisphere (mean)</h2>
<table><tr><th>score</th><th>left</th><th>right</th></tr>{hemi_rows}</table>
{_img(_boxplots(cases), "per-slice scores")}
<h2>Morphometry agreement</h2>
<table><tr><th>hemisphere</th><th>measure</th><th>n</th><th>ICC(A,1)</th><th>ICC(C,1)</th>
<th>bias</th><th>95 % limits</th><th>MAE</th></tr>{morph_rows}</table>
{_img(_bland_altman(pairs), "Bland-Altman plots")}
<h2>Association reproduction</h2>{assoc_html}
<h2>Worst cases (lowest Dice): reference green, prediction magenta, both white</h2>
{_gallery(cases, images)}
<h2>Problems in the submission</h2><ul>{problems}</ul>
</body></html>
"""


def summary_markdown(result: EvaluationResult) -> str:
    """``summary.md``: the scores, the morphometry agreement and the association, as Markdown."""
    seg = result.segmentation
    lines = [
        f"# Evaluation of {result.model or 'a submission'}",
        "",
        f"Split `{result.reference.split}`, reference rater "
        f"`{result.reference.rater}`: {seg.n_cases} slices, {seg.n_invalid} "
        "scored as worst case.",
        "",
        "| score | mean | 95 % CI | median |",
        "|---|---|---|---|",
    ]
    for name, s in seg.overall.items():
        lines.append(f"| {name} | {s.mean:.3f} | {s.ci_low:.3f}-{s.ci_high:.3f} | {s.median:.3f} |")
    lines += [
        "",
        "## Morphometry agreement with the reference (per slice and hemisphere)",
        "",
        "| hemisphere | measure | n | ICC(A,1) | bias | 95 % limits | MAE |",
        "|---|---|---|---|---|---|---|",
    ]

    def number(value, digits=3):
        return "n/a" if value is None else f"{value:.{digits}f}"

    for side, measures in result.morphometry.items():
        for name, a in measures.items():
            lines.append(
                f"| {side} | {name} | {a.n} | {number(a.icc_a1)} | {number(a.bias)} | "
                f"{number(a.loa_low)} to {number(a.loa_high)} | {number(a.mae)} |"
            )
    association = result.association
    if "reference" in association:
        score = association["reference"]["reproduction_score"]
        lines += [
            "",
            "## Association reproduction",
            "",
            f"The study's tests on {association['n_participants']} participants: reproduction "
            f"score {'n/a' if score is None else f'{score:.2f}'} against the reference masks"
            + (
                f", {association['published']['reproduction_score']:.2f} against the "
                "published study"
                if association.get("published")
                and association["published"]["reproduction_score"] is not None
                else ""
            )
            + (
                f", {number(association['truth']['reproduction_score'], 2)} against the "
                "generator's truth (the reference masks: "
                f"{number(association['reference_vs_truth']['reproduction_score'], 2)})"
                if association.get("truth")
                else ""
            )
            + ".",
            "",
            "| comparison | measure | hemisphere | Z | Z reference | reproduced |",
            "|---|---|---|---|---|---|",
        ]
        for t in association["reference"]["tests"]:
            lines.append(
                f"| {t['comparison']} | {t['measure']} | {t['hemisphere']} | {number(t['Z'])} | "
                f"{number(t['Z_comparison'])} | {'yes' if t['reproduced'] else 'no'} |"
            )
    human = result.human_reference
    if human:
        lines += [
            "",
            f"Human reference: rater `{human['rater']}` against `{result.reference.rater}` "
            f"on {human['n_cases']} of these slices: Dice {human['overall']['dice']['mean']:.3f}, "
            f"clDice {human['overall']['cldice']['mean']:.3f}, HD95 "
            f"{human['overall']['hd95_mm']['mean']:.2f} mm.",
        ]
    if result.problems:
        lines += ["", "## Problems", ""] + [f"- {p}" for p in result.problems]
    return "\n".join(lines) + "\n"
