"""``scvbench power``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.power import MEASURES, power


def _pair(text: str) -> tuple[int, int]:
    """An argparse type: ``A:B`` of two whole numbers."""
    try:
        first, second = (int(part) for part in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected A:B of two whole numbers, got {text!r}"
        ) from None
    return first, second


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench power``; return the exit status."""
    document = power(
        args.evaluation,
        args.out,
        effect=args.effect,
        measure=args.measure,
        hemisphere=args.hemisphere,
        test=args.test,
        alpha=args.alpha,
        powers=tuple(args.power),
        n_range=args.n_range,
        points=args.points,
        ratio=args.ratio,
        simulations=args.simulations,
        seed=args.seed,
        human=args.human,
        progress=not args.quiet,
    )
    for name, needed in document["n_for_power"].items():
        text = ", ".join(
            f"{float(p):.0%}: {'> range' if n is None else round(n)}" for p, n in needed.items()
        )
        print(f"{name}: participants for {text}")
    print(f"power -> {args.out / 'power.json'}, power.tsv, power.png")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench power`` to the command parsers."""
    p = sub.add_parser(
        "power",
        help=options.COMMANDS["power"].help,
        description=(
            "Simulate cohorts of each size from the effect's group distributions (the study's "
            "Tables 2 and 3, or your medians and quartiles), measure every participant with "
            "the model's error from scvbench evaluate (Bland-Altman bias and scatter, "
            "proportional when the pairs show it), run the study's test and report power "
            "against cohort size with Monte-Carlo intervals, the size needed for each power, "
            "the same for error-free measurement (and --human), and a normal-theory check."
        ),
    )
    p.add_argument("--evaluation", type=Path, required=True, help="results.json of the model")
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.add_argument("--effect", default="paper", help="paper (default) or an effect JSON file")
    p.add_argument("--measure", choices=list(MEASURES), default="tortuosity")
    p.add_argument("--hemisphere", choices=["right", "left"], default="right")
    p.add_argument("--test", choices=["mannwhitney", "logistic"], default="mannwhitney")
    p.add_argument("--alpha", type=options.probability, default=0.05, help="default: 0.05")
    p.add_argument(
        "--power", type=float, nargs="+", default=[0.8, 0.9], help="powers (default: 0.8 0.9)"
    )
    p.add_argument("--n-range", type=_pair, default=(40, 600), help="LOW:HIGH total participants")
    p.add_argument("--points", type=options.int_at_least(2), default=15, help="sizes (default 15)")
    p.add_argument("--ratio", type=_pair, help="group 1 : group 0 (default: the study's, 53:111)")
    p.add_argument(
        "--simulations", type=options.int_at_least(100), default=2000, help="per size (2000)"
    )
    p.add_argument("--seed", type=options.seed, default=0, help="random seed (default: 0)")
    p.add_argument("--human", type=Path, help="results.json whose error is the human reference")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=execute)
