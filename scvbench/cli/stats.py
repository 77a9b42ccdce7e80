"""``scvbench stats``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.stats import run_stats


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench stats``; return the exit status."""
    result = run_stats(
        args.morph, args.participants, args.out, args.phenotype, fdr=args.fdr, terms=args.terms
    )
    for row in result["mann_whitney"]:
        shown = "n/a" if row["p"] is None else f"U {row['U']:g}, Z {row['Z']:.3f}, P {row['p']:.4f}"
        print(f"{row['comparison']:>4} {row['measure']:>10} {row['hemisphere']:>5}: {shown}")
    for term in result["logistic"].get("terms", []):
        print(
            f"logistic {term['name']}: B {term['coef']:.3f}, P {term['p']:.4f}, OR "
            f"{term['odds_ratio']:.3f} ({term['ci_low']:.3f}-{term['ci_high']:.3f})"
        )
    if result["logistic"].get("note"):
        print(f"logistic: {result['logistic']['note']}")
    print(f"tables, figures and report.html in {args.out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench stats`` to the command parsers."""
    p = sub.add_parser(
        "stats",
        help=options.COMMANDS["stats"].help,
        description=(
            "Median (Q1, Q3), Kolmogorov-Smirnov normality (Lilliefors), Mann-Whitney U (Z "
            "tie-corrected without continuity correction, as SPSS) by DWML group and by sex, "
            "Spearman against age and education, binary logistic regression of DWML on the "
            "measures that differed; stats.json, Table 2 and 3 (Markdown and CSV), box plots, "
            "a forest plot and report.html."
        ),
    )
    p.add_argument("--morph", type=Path, required=True, help="group table from scvbench morph")
    p.add_argument("--participants", type=Path, required=True, help="participants.tsv")
    p.add_argument("--phenotype", type=Path, help="phenotype/fazekas.tsv (DWML = fazekas_dwm >= 1)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--fdr", action="store_true", help="also Benjamini-Hochberg adjusted P (p_fdr)")
    p.add_argument(
        "--terms",
        nargs="+",
        metavar="MEASURE_HEMI",
        help="logistic predictors (e.g. tortuosity_right); default: the measures that differed",
    )
    p.set_defaults(func=execute)
