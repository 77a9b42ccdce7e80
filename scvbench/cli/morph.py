"""``scvbench morph``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError
from scvbench.steps import morph


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench morph``; return the exit status."""
    if args.mask is not None:
        if args.bids or args.masks:
            raise ScvbenchError("give either MASK or --bids with --masks, not both")
        if args.out is None:
            raise ScvbenchError("give the output table with -o OUT.tsv")
        table = morph.morph_file(args.mask, args.hemi, args.slices, args.min_area_mm2)
        morph.write_table(args.out, table)
        print(f"{len(table)} vessel(s) in {table['slice'].nunique()} slice(s) -> {args.out}")
        return 0
    if not (args.bids and args.masks):
        raise ScvbenchError("give a MASK file, or --bids BIDS_DIR and --masks DERIV_DIR")
    if args.hemi or args.slices:
        raise ScvbenchError("--hemi and --slices are for one MASK; a dataset uses its derivatives")
    group = morph.morph_dataset(
        args.bids, args.masks, args.out, args.desc, args.all_slices, args.min_area_mm2
    )
    out = args.out or args.masks
    print(
        f"{group['participant_id'].nunique()} participant(s) measured -> {out / morph.GROUP_FILE}"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench morph`` to the command parsers."""
    p = sub.add_parser(
        "morph",
        help=options.COMMANDS["morph"].help,
        description=(
            "Measure vessels of vein masks, one row per vessel: 8-connected components per "
            "hemisphere, skeleton as an 8-neighbour pixel graph (as skan), length = longest "
            "geodesic path between end points, tortuosity = length / chord, diameter = area / "
            "skeleton length. One MASK (-o OUT.tsv), or every participant of a derivative "
            "dataset (--bids, --masks)."
        ),
    )
    p.add_argument("mask", nargs="?", type=Path, help="a binary vein-mask NIfTI")
    p.add_argument("--hemi", type=Path, help="hemisphere dseg on the same grid (1 left, 2 right)")
    p.add_argument(
        "--slices",
        type=options.seed,
        nargs="+",
        metavar="K",
        help="slices to measure (default: labelled)",
    )
    p.add_argument("--bids", type=Path, help="BIDS dataset derived with scvbench derive")
    p.add_argument("--masks", type=Path, help="derivative dataset with vein masks")
    p.add_argument("--desc", help="which masks when there are several (e.g. a rater: rater1)")
    p.add_argument(
        "--all-slices",
        action="store_true",
        help="group table: pool every measured slice (default: the one nearest the analysis slice)",
    )
    p.add_argument(
        "--min-area-mm2",
        type=options.non_negative_float,
        default=DEFAULTS.min_area_mm2,
        help="components smaller than this are specks, not vessels "
        f"(default: {DEFAULTS.min_area_mm2:g})",
    )
    p.add_argument("-o", "--out", type=Path, help="OUT.tsv for one MASK; OUT_DIR for a dataset")
    p.set_defaults(func=execute)
