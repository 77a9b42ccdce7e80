"""The self-contained HTML report of ``scvbench evaluate``.

Sections: the scores (mean, 95 % CI, median) beside the human reference; per hemisphere; box
plots of the per-slice Dice, clDice and HD95; Bland-Altman plots of the morphometry per measure
and hemisphere; the association reproduction tests; a gallery of the worst cases (lowest Dice):
the MinIP slice with the reference in green, the prediction in magenta and their overlap in
white; and the problems found in the submission.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pandas as pd
from PIL import Image

from scvbench.report.figures import png_bytes
from scvbench.report.pages import data_uri, number, render
from scvbench.results import EvaluationResult

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = [
    "GALLERY",
    "gallery_tiles",
    "summary_markdown",
    "write_report",
]

#: Number of worst cases shown.
GALLERY = 6


def _boxplots(cases: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    for axis, name in zip(axes, ("dice", "cldice", "hd95_mm"), strict=True):
        axis.boxplot(cases[name].to_numpy(float), widths=0.5)
        axis.set_title(name)
        axis.set_xticks([])
    figure.subplots_adjust(left=0.06, right=0.98, bottom=0.06, top=0.9, wspace=0.3)
    return png_bytes(figure, tight=False)


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
    # fixed margins: tight_layout would draw the six panels once more to measure them
    figure.subplots_adjust(left=0.07, right=0.98, bottom=0.09, top=0.95, wspace=0.3, hspace=0.42)
    return png_bytes(figure, tight=False)


def gallery_tiles(cases: pd.DataFrame, images: dict) -> list[dict]:
    """The worst cases (lowest Dice) as PNG tiles, each slice at its own resolution.

    Parameters
    ----------
    cases : DataFrame
        The per-slice scores (``participant_id``, ``slice``, ``dice``).
    images : dict
        (participant, slice) to (MinIP, reference mask, predicted mask).

    Returns
    -------
    list of dict
        Worst first: ``participant_id``, ``slice``, ``dice``, ``caption`` and ``png`` (bytes).
    """
    worst = cases.sort_values("dice", kind="stable").head(GALLERY)
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
        # rows run left to right (RAS+): turned, anterior is up and right on the right
        pixels = np.rint(np.rot90(rgb) * 255).astype(np.uint8)
        buffer = BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels), mode="RGB").save(buffer, format="PNG")
        tiles.append(
            {
                "participant_id": key[0],
                "slice": key[1],
                "dice": float(case["dice"]),
                "caption": f"{key[0]} slice {key[1]}: Dice {case['dice']:.3f}",
                "png": buffer.getvalue(),
            }
        )
    return tiles


def write_report(
    result: EvaluationResult,
    cases: pd.DataFrame,
    pairs: pd.DataFrame,
    tiles: list[dict],
    power: dict | None = None,
) -> str:
    """The report's HTML: ``tiles`` from :func:`gallery_tiles`, ``power`` the power section.

    ``power`` is ``scvbench.steps.power.evaluation_power``'s result, with its ``figure``.
    """
    return render(
        "evaluation.html",
        title="scvbench evaluation",
        result=result,
        boxplots=data_uri(_boxplots(cases)),
        bland_altman=data_uri(_bland_altman(pairs)),
        gallery=[(tile["caption"], data_uri(tile["png"])) for tile in tiles],
        power=power,
        power_figure=data_uri(power["figure"]) if power else None,
    )


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
