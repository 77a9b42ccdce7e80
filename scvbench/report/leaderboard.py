"""The leaderboard's pages: the Markdown table and the static, sortable HTML page."""

from __future__ import annotations

import re

import numpy as np

from scvbench.core.association import PUBLISHED
from scvbench.core.ranking import RANK_METRICS
from scvbench.errors import ScvbenchError
from scvbench.report.figures import png_bytes
from scvbench.report.pages import data_uri, number, render

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = [
    "STUDY_OR",
    "STUDY_Z",
    "human_row",
    "rank_plot",
    "reference_effect",
    "render_page",
    "render_readme",
    "slug",
]

#: The study's right-hemisphere tortuosity Z (Mann-Whitney by DWML) and logistic odds ratio.
STUDY_Z = next(
    t["Z"]
    for t in PUBLISHED["paper"]["mann_whitney"]
    if (t["comparison"], t["measure"], t["hemisphere"]) == ("dwml", "tortuosity", "right")
)
STUDY_OR = PUBLISHED["paper"]["logistic"]["terms"][0]["odds_ratio"]


def slug(name: str) -> str:
    """A file and anchor name for an entry: letters, digits, ``.``, ``_`` and ``-``."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
    if not slug:
        raise ScvbenchError(f"entry name {name!r} has no usable characters")
    return slug


def human_row(entries: list[dict]) -> dict | None:
    """The second rater's scores (the human reference row), when an entry has them.

    ``tortuosity_right`` is the second rater's right-tortuosity agreement with the reference
    (the leaderboard computes the participants for 80 % power from it).
    """
    for entry in entries:
        human = entry.get("human_reference")
        if human:
            overall = human["overall"]
            return {
                "name": f"human reference ({human['rater']})",
                **{m: overall.get(m, {}).get("mean") for m, _, case in RANK_METRICS if case},
                "tortuosity_right": (human.get("morphometry") or {})
                .get("right", {})
                .get("tortuosity"),
            }
    return None


def rank_plot(rows: list[dict]) -> bytes:
    """PNG of each entry's observed rank and 95 % bootstrap rank interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 0.5 + 0.45 * len(rows)))
    names = [r["name"] for r in rows][::-1]
    low = [r["rank_interval"].split("-") for r in rows][::-1]
    for y, ((lo, hi), row) in enumerate(zip(low, rows[::-1], strict=True)):
        axis.plot([int(lo), int(hi)], [y, y], color="#4a7", linewidth=6, solid_capstyle="round")
        axis.plot(row["rank"], y, "ko")
    axis.set_yticks(range(len(names)), names)
    axis.set_xlabel("rank (dot: observed; bar: 95 % bootstrap interval)")
    axis.set_xlim(0.5, len(rows) + 0.5)
    figure.tight_layout()
    return png_bytes(figure)


def render_page(rows: list[dict], human: dict | None, entries: list[dict], settings: dict) -> str:
    """The static leaderboard page: sortable table, rank intervals, one section per entry."""
    metrics = [m for m, _, _ in RANK_METRICS]
    heads = [
        "rank",
        "tier",
        "model",
        *metrics,
        "P(rank 1)",
        "rank 95 %",
        "Wilcoxon P vs next",
        f"right tortuosity Z (study {STUDY_Z})",
        f"odds ratio (study {STUDY_OR})",
        "reproduces the study",
        "participants for 80 % power",
    ]
    keys = [
        "rank",
        "tier",
        "name",
        *metrics,
        "p_rank1",
        "rank_interval",
        "wilcoxon_p_next",
        "tortuosity_right_z",
        "odds_ratio",
        "reproduction_published",
        "participants_80",
    ]

    def shown(value) -> str:
        if isinstance(value, str):
            return value
        if value == float("inf"):  # participants for 80 % power beyond the simulated sizes
            return "> 600"
        if isinstance(value, (int, np.integer)):
            return str(value)
        return number(value)

    return render(
        "leaderboard.html",
        title="scvbench leaderboard",
        width=1200,
        dataset=settings.get("dataset", {}),
        settings=settings,
        columns=list(zip(heads, keys, strict=True)),
        ascending=("rank", "name", "hd95_mm", "betti0_error", "rank_interval", "participants_80"),
        rows=rows,
        metrics=metrics,
        human=human,
        entries=entries,
        plot=data_uri(rank_plot(rows)),
        reference_effect=_reference_effect(settings),
        shown=shown,
        slug=slug,
    )


def reference_effect(entries: list[dict]) -> dict | None:
    """The association summary of the first entry that carries the reference masks' effect.

    Parameters
    ----------
    entries : list of dict
        The leaderboard's entries.

    Returns
    -------
    dict or None
        ``scores.association`` of that entry (``tortuosity_right_z_reference``,
        ``odds_ratio_reference``, ...), or None.
    """
    for entry in entries:
        summary = entry["scores"].get("association") or {}
        if summary.get("tortuosity_right_z_reference") is not None:
            return summary
    return None


def _reference_effect(settings: dict) -> str:
    """``; the reference masks give Z .. and odds ratio ..`` when the entries carry them."""
    effect = settings.get("reference_effect") or {}
    if effect.get("tortuosity_right_z_reference") is None:
        return ""
    return (
        f"; the reference masks give Z {number(effect['tortuosity_right_z_reference'], 2)} and "
        f"odds ratio {number(effect.get('odds_ratio_reference'), 2)}"
    )


def _participants(value) -> str:
    if value is None:
        return "n/a"
    return "> 600" if value == float("inf") else f"{value:.0f}"


def render_readme(rows: list[dict], human: dict | None, settings: dict) -> str:
    """``leaderboard/README.md``: the ranked table in Markdown, with how it was ranked."""
    dataset = settings.get("dataset", {})
    header = (
        "| rank | tier | model | Dice | clDice | HD95 (mm) | Betti-0 error | morphometry ICC | "
        "reproduction | P(rank 1) | rank 95 % | Wilcoxon P vs next | "
        f"right tortuosity Z (study {STUDY_Z}) | odds ratio (study {STUDY_OR}) | "
        "participants for 80 % power |\n" + "|---" * 15 + "|\n"
    )
    body = "".join(
        f"| {r['rank']} | {r['tier']} | {r['name']} | {number(r['dice'])} | "
        f"{number(r['cldice'])} | {number(r['hd95_mm'], 2)} | {number(r['betti0_error'], 2)} | "
        f"{number(r['morphometry_icc'])} | {number(r['reproduction'], 2)} | "
        f"{number(r['p_rank1'], 2)} | {r['rank_interval']} | "
        f"{number(r['wilcoxon_p_next'])} | {number(r.get('tortuosity_right_z'), 2)} | "
        f"{number(r.get('odds_ratio'), 2)} | {_participants(r.get('participants_80'))} |\n"
        for r in rows
    )
    if human:
        body += (
            f"| - | | {human['name']} | {number(human['dice'])} | {number(human['cldice'])} | "
            f"{number(human['hd95_mm'], 2)} | {number(human['betti0_error'], 2)} |"
            + " |" * 7
            + f" {_participants(human.get('participants_80'))} |\n"
        )
    intro = (
        "# scvbench leaderboard\n\n"
        f"Test split of the `{dataset.get('preset') or dataset.get('name')}` data set "
        f"(seed {dataset.get('seed')}; reference data `{str(settings['data_checksum'])[:12]}`, "
        f"split `{str(settings['splits_checksum'])[:12]}`). Synthetic data where the data set "
        "is a `scvbench synth` cohort. Ranked by the mean of the per-metric ranks; P(rank 1) and "
        "the rank interval from 1,000 bootstrap resamples of the test slices (seed 0); a new "
        "tier starts where an entry's whole rank interval lies below that of its tier's first "
        "entry; Wilcoxon signed-rank P on the per-slice Dice against the next entry. "
        "Reproduction: share of the study's tests the entry's morphometry reproduces as the "
        "reference masks' does; the right-hemisphere tortuosity Z (Mann-Whitney, by DWML) and "
        "the logistic odds ratio of right tortuosity from the entry's morphometry, beside the "
        f"study's{_reference_effect(settings)}. Participants for 80 % power: the cohort size "
        "(53 : 111) at which the study's Mann-Whitney test finds the right-tortuosity effect in "
        "80 % of cohorts measured with the entry's error (fitted to its association-cohort pairs; "
        "`scvbench power`); "
        "with perfect measurement "
        f"{_participants(settings.get('participants_80_error_free'))}; the human reference row "
        "is the second rater scored against the first, its participants with the second "
        "rater's error. Rebuilt with "
        "`scvbench leaderboard build`; `index.html` is the interactive page.\n\n"
    )
    return intro + header + body
