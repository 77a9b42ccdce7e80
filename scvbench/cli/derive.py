"""``scvbench derive``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.derive import PIPELINE, QC_DIR, derive_dataset


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench derive``; return the exit status."""
    report = derive_dataset(
        args.bids_dir,
        participant_labels=args.participant_label,
        slab_mm=args.slab_mm,
        step_mm=args.step_mm,
        slices=args.slices,
        nprocs=args.nprocs,
        overwrite=args.overwrite,
    )
    out = args.bids_dir / "derivatives" / PIPELINE
    print(
        f"derived {len(report.derived)}, up to date {len(report.up_to_date)}, failed "
        f"{len(report.failed)} participant(s) in {out} (QC reports: {out / QC_DIR})"
    )
    for label, reason in sorted(report.failed.items()):
        print(f"scvbench: error: sub-{label}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench derive`` to the command parsers."""
    p = sub.add_parser(
        "derive",
        help=options.COMMANDS["derive"].help,
        description=(
            "Write BIDS_DIR/derivatives/scvbench: the sliding MinIP of the SWI (slab and step in "
            "mm), brain mask and hemispheres on the MinIP grid, the analysis slices at the "
            "lateral-ventricle level, PNG exports for Labelme and a QC report per participant. "
            "Participants derived before with the same inputs and settings are skipped."
        ),
    )
    p.add_argument("bids_dir", type=Path, help="BIDS dataset made by scvbench convert")
    options.add_participant_label(p, "derive only these participants (with or without sub-)")
    options.add_minip(p)
    p.add_argument(
        "--slices",
        type=options.seed,
        nargs="+",
        metavar="K",
        help="set the analysis slices (MinIP indices) of the one participant named",
    )
    p.add_argument(
        "--nprocs",
        type=options.positive_int,
        default=1,
        help="participants in parallel (default: 1)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo participants already derived (also after changing inputs or slab settings)",
    )
    p.set_defaults(func=execute)
