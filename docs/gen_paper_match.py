"""Write the README's table of how the synthetic cohort matches the study's Tables 2 and 3.

    python docs/gen_paper_match.py                      # table-level draws, README and docs page
    python docs/gen_paper_match.py --cohort c0 c1 ...   # also measure generated cohorts' truth

Table level: ``draw_cohort(364, seed)`` for seeds 0-4, the association participants' target
values. Images: each ``--cohort`` is a ``scvbench synth --preset paper`` folder; its truth
morphometry (``measure()`` on the true MinIP masks of each association participant's analysis
slice, as ``scvbench morph`` measures) is compared the same way, and the result is kept in
``docs/paper_match_images.json`` so that later runs (and ``tests/test_docs.py``) reproduce the
page without the images.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
IMAGES = ROOT / "docs" / "paper_match_images.json"
BEGIN, END = "<!-- paper-match:begin -->", "<!-- paper-match:end -->"
SEEDS = range(5)


def table_level() -> pd.DataFrame:
    """The comparison on paper-sized table draws, seeds 0-4."""
    from scvbench.steps.synth.cohort import draw_cohort
    from scvbench.steps.synth.paper_match import compare

    tables = [draw_cohort(364, seed=s).query("role == 'association'") for s in SEEDS]
    return compare(tables)


def cohort_table(folder: Path) -> pd.DataFrame:
    """One row per association participant of a generated cohort, from its truth."""
    truth = Path(folder) / "truth"
    cohort = pd.read_csv(truth / "cohort.tsv", sep="\t")
    morph = pd.read_csv(truth / "morphometry.tsv", sep="\t")
    morph = morph[morph["analysis"].astype(str) == "True"]
    wide = morph.pivot_table(
        index="patient_id",
        columns="hemisphere",
        values=["count", "diameter_mm", "tortuosity"],
        aggfunc="first",
    )
    wide.columns = [
        f"{'diameter' if m == 'diameter_mm' else m}_{h}" for m, h in wide.columns.to_flat_index()
    ]
    keep = cohort[cohort["role"] == "association"][["patient_id", "sex", "dwml"]]
    return keep.merge(wide.reset_index(), on="patient_id", how="left")


def summary(table: pd.DataFrame) -> list[dict]:
    """Per comparison: the study's values and the synthetic means (compact README rows)."""
    from scvbench.steps.synth.paper_match import PUBLISHED

    rows = []
    index = table.set_index("quantity")
    for c in PUBLISHED:
        key = f"{c.measure} {c.hemisphere} by {c.grouping}"
        groups = []
        worst = 0.0
        for _, label, quartiles in c.groups:
            got = [index.loc[f"{key}: {label} {n}", "synthetic"] for n in ("median", "Q1", "Q3")]
            worst = max(worst, *(abs(g - q) for g, q in zip(got, quartiles, strict=True)))
            groups.append({"label": label, "study": list(quartiles), "synthetic": got})
        z = index.loc[f"{key}: Z"]
        part = table[table["quantity"].str.startswith(f"{key}:")]
        rows.append(
            {
                "comparison": key,
                "groups": groups,
                "largest_quartile_difference": worst,
                "study_z": c.z,
                "z": float(z["synthetic"]),
                "z_sd": float(z["sd"]),
                "holds": bool(part["holds"].all()),
            }
        )
    b = index.loc["logistic B of right tortuosity"]
    rows.append(
        {
            "comparison": "logistic B",
            "study_b": float(b["published"]),
            "b": float(b["synthetic"]),
            "b_sd": float(b["sd"]),
        }
    )
    return rows


def _sd(value: float) -> str:
    return "" if value != value else f" ± {value:.2f}"  # one draw: no spread to show


def _fmt(values, digits):
    return f"{values[0]:.{digits}f} ({values[1]:.{digits}f}, {values[2]:.{digits}f})"


def markdown(tables: dict[str, list[dict]]) -> str:
    """The README section: one column group per source (table draws, images)."""
    sources = list(tables)
    head = (
        "| comparison | study: median (Q1, Q3) | study Z | "
        + " | ".join(f"{s}: median (Q1, Q3) | {s}: Z" for s in sources)
        + " |"
    )
    lines = [head, "|---" * (3 + 2 * len(sources)) + "|"]
    first = tables[sources[0]]
    for i, row in enumerate(first[:-1]):
        digits = 0 if row["comparison"].startswith("count") else 2
        study = " vs ".join(f"{g['label']} {_fmt(g['study'], digits)}" for g in row["groups"])
        cells = [row["comparison"], study, f"{row['study_z']:.3f}"]
        for source in sources:
            r = tables[source][i]
            got = " vs ".join(_fmt(g["synthetic"], 1 if digits == 0 else 2) for g in r["groups"])
            flag = "" if r["holds"] else " (outside)"
            cells += [got, f"{r['z']:.2f}{_sd(r['z_sd'])}{flag}"]
        lines.append("| " + " | ".join(cells) + " |")
    b = [f"{tables[s][-1]['b']:.2f}{_sd(tables[s][-1]['b_sd'])}" for s in sources]
    cells = ["logistic B, right tortuosity", "", f"{first[-1]['study_b']:.3f}"]
    for value in b:
        cells += ["", value]
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def section() -> str:
    """The whole generated README section."""
    tables = {"synthetic tables (5 seeds)": summary(table_level())}
    note = (
        "Table level: the association participants' target values of `draw_cohort(364, seed)`, "
        "seeds 0-4; mean over seeds (± SD for Z). Z carries the study's direction "
        "(negative when the groups differ as the study's quartiles do)."
    )
    if IMAGES.exists():
        stored = json.loads(IMAGES.read_text())
        if "same_seed_rows" in stored:
            tables[stored["same_seed_label"]] = stored["same_seed_rows"]
        tables[stored["label"]] = stored["rows"]
        note += " " + stored["note"]
    return (
        f"{BEGIN}\n{markdown(tables)}\n\n{note} Tolerances: quartiles 0.03 (tortuosity), "
        f"0.06 mm (diameter), 1 (count); Z 0.75. Regenerate with "
        f"`python docs/gen_paper_match.py`.\n{END}"
    )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cohort",
        nargs="*",
        type=Path,
        default=[],
        help="generated paper-preset cohorts to measure (one per seed)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.cohort:
        from scvbench.steps.synth.cohort import draw_cohort
        from scvbench.steps.synth.paper_match import compare

        result = compare([cohort_table(c) for c in args.cohort])
        manifests = [json.loads((c / "truth" / "manifest.json").read_text()) for c in args.cohort]
        seeds = [int(m["seed"]) for m in manifests]
        # the same seeds' table draws: what the images would give without any image error
        same = compare([draw_cohort(364, seed=s).query("role == 'association'") for s in seeds])
        n = len(args.cohort)
        names = ", ".join(str(s) for s in seeds)
        IMAGES.write_text(
            json.dumps(
                {
                    "label": f"truth masks ({n} cohort{'s' if n > 1 else ''}, seed {names})",
                    "same_seed_label": f"tables, seed {names}",
                    "note": (
                        f"Images: truth morphometry of the association participants of {n} "
                        f"generated `paper` cohort{'s' if n > 1 else ''} (seed {names}), beside "
                        f"the table-level draw of the same seed{'s' if n > 1 else ''}: the "
                        f"difference between those two columns is what the images add."
                    ),
                    "rows": summary(result),
                    "same_seed_rows": summary(same),
                },
                indent=1,
                default=float,
            )
            + "\n"
        )
        print(result.to_string())
    text = README.read_text()
    if BEGIN not in text:
        raise SystemExit(f"{README}: no {BEGIN} marker")
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    README.write_text(head + section() + tail)
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
