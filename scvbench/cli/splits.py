"""``scvbench splits``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.splits import write_splits


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench splits``; return the exit status."""
    path, splits = write_splits(
        args.bids_dir, args.out, args.seed, args.rater, args.force, args.test_site
    )
    n_dev = len(splits["test"]) + len(splits["folds"][0]["train"]) + len(splits["folds"][0]["val"])
    print(
        f"{n_dev} development participant(s): test {len(splits['test'])}, per fold train "
        f"{len(splits['folds'][0]['train'])} / validation {len(splits['folds'][0]['val'])}; "
        f"association {len(splits['association'])} -> {path} (checksum {splits['checksum'][:12]})"
    )
    if "test_site" in splits:
        print(f"test set: every development participant scanned on {splits['test_site']}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench splits`` to the command parsers."""
    p = sub.add_parser(
        "splits",
        help=options.COMMANDS["splits"].help,
        description=(
            "Hold out 20 %% of the development participants (those with reference masks, not in "
            "the association cohort) for test and split the rest into 4 folds of 60 %% training "
            "and 20 %% validation of the whole, stratified by sex and DWML; writes "
            "code/scvbench/splits.json in BIDS_DIR with a checksum."
        ),
    )
    p.add_argument("bids_dir", type=Path, metavar="BIDS_DIR", help="derived BIDS dataset")
    p.add_argument("--seed", type=options.seed, default=0, help="random seed (default: 0)")
    p.add_argument("--rater", help="whose reference masks define the participants (default: first)")
    p.add_argument(
        "-o", "--out", type=Path, help="split file (default: BIDS_DIR/code/scvbench/splits.json)"
    )
    p.add_argument(
        "--test-site",
        metavar="SITE",
        help="hold out one scanner's development participants as the test set (the other sites "
        "make the 4 folds), as '<Manufacturer> <model> <field>T' from the SWI sidecars, e.g. "
        "'GE DISCOVERY MR750 3T'; the split file records it",
    )
    p.add_argument("--force", action="store_true", help="replace a different existing split")
    p.set_defaults(func=execute)
