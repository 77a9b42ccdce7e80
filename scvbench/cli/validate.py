"""``scvbench validate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.convert.validate import STRAY, validate


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench validate``; return the exit status."""
    result = validate(args.bids_dir, recursive=args.recursive)
    for code, location in result.errors:
        print(f"error {code}: {location}")
        if code == STRAY:
            print("  a killed scvbench run left this work folder; remove it (the next run does)")
    verdict = "valid" if result.valid else f"{len(result.errors)} error(s)"
    print(f"{args.bids_dir}: {verdict} ({len(result.warnings)} warning(s)), bids-validator-deno")
    if result.expected:
        print(
            f"  and {len(result.expected)} expected NOT_INCLUDED on _morph.tsv tables (BIDS has no "
            "suffix for morphometry tables)"
        )
    return 0 if result.valid else 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench validate`` to the command parsers."""
    p = sub.add_parser(
        "validate",
        help=options.COMMANDS["validate"].help,
        description="Run bids-validator-deno (offline) and report its verdict.",
    )
    p.add_argument("bids_dir", type=Path)
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="also validate the derivative datasets under derivatives/",
    )
    p.set_defaults(func=execute)
