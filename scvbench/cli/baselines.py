"""``scvbench baselines``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.baselines import record_baseline
from scvbench.steps.train import RECIPES


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench baselines``; return the exit status."""
    for name in args.models:
        results = record_baseline(
            args.bids_dir, args.runs_dir, name, args.fold, args.recipe, args.out
        )
        print(
            f"{name}: validation Dice {results['training']['best_val_dice']:.3f}, test Dice "
            f"{results['test_dice']['mean']:.3f}, {results['training']['train_seconds']} s"
        )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench baselines`` to the command parsers."""
    p = sub.add_parser(
        "baselines",
        help=options.COMMANDS["baselines"].help,
        description=(
            "Train each MODEL on a fold (scvbench train), segment the test and association "
            "participants (scvbench predict), score the test split (scvbench evaluate) and write "
            "OUT/<model>/: config.json, results.json (validation and test Dice, training time, "
            "hardware, data set and split checksums) and README.md (the model card)."
        ),
    )
    p.add_argument("bids_dir", type=Path, metavar="BIDS_DIR", help="derived BIDS dataset")
    p.add_argument("runs_dir", type=Path, metavar="RUNS_DIR", help="where the runs go")
    p.add_argument("models", nargs="+", metavar="MODEL", help="registered model names")
    p.add_argument("--fold", type=options.int_at_least(0), default=0, help="fold (default: 0)")
    p.add_argument("--recipe", choices=sorted(RECIPES), default="cpu", help="default: cpu")
    p.add_argument(
        "--out", type=Path, default=Path("baselines"), help="card folder (default: baselines)"
    )
    p.set_defaults(func=execute)
