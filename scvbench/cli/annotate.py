"""``scvbench annotations``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scvbench.cli import options
from scvbench.core.rasterize import RULES
from scvbench.steps.annotate import import_annotations


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench annotations``; return the exit status."""
    report = import_annotations(
        args.labelme_dir,
        args.bids_dir,
        rater=args.rater,
        key_file=args.key_file,
        labels=tuple(args.label),
        line_width=args.line_width,
        rule=args.rasterize,
        overwrite=args.overwrite,
    )
    for (label, rater), slices in sorted(report.slices.items()):
        state = "unchanged" if (label, rater) in report.unchanged else "written"
        print(f"sub-{label} {rater}: slices {', '.join(map(str, slices))} ({state})")
    for skipped in report.skipped_shapes:
        print(f"skipped {skipped}")
    for path in report.imported:
        print(f"imported {path}")
    print(
        f"imported {len(report.imported)} file(s), refused {len(report.refused)}; masks written "
        f"{len(report.written)}, unchanged {len(report.unchanged)} in "
        f"{args.bids_dir / 'derivatives' / 'annotations'}"
    )
    for reason in report.refused.values():
        print(f"scvbench: error: {reason}", file=sys.stderr)
    return 1 if report.refused else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench annotations`` to the command parsers."""
    p = sub.add_parser(
        "annotations",
        help=options.COMMANDS["annotations"].help,
        description="Reference vein annotations made in Labelme on the exported MinIP slices.",
    )
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    q = actions.add_parser(
        "import",
        help="rasterise Labelme JSON files into vein masks on the MinIP grid",
        description=(
            "Rasterise the Labelme outlines under LABELME_DIR (polygons, rectangles, oriented "
            "rectangles, circles, masks; lines with a width) into derivatives/annotations vein "
            "masks on each participant's MinIP grid, one mask per rater, as Labelme itself "
            "rasterises them. Slices are merged into the existing masks (--overwrite replaces "
            "them). A file that does not fit is refused with its reason and the others are "
            "imported; the exit status is then 1."
        ),
    )
    q.add_argument("labelme_dir", type=Path, help="folder with Labelme .json files (any nesting)")
    q.add_argument("bids_dir", type=Path, help="BIDS dataset derived with scvbench derive")
    q.add_argument(
        "--rater",
        help="rater name (letters and digits) for all files; default: from each file's "
        "scvbench block or its folder name",
    )
    q.add_argument(
        "--key-file",
        type=Path,
        help="PatientID-to-label key from scvbench convert, for files named by PatientID",
    )
    q.add_argument(
        "--label",
        nargs="+",
        default=["vein"],
        help="Labelme labels that mark veins (default: vein). Case is ignored and a trailing "
        "instance number is allowed (Vein, vein_2 match vein); other shapes are skipped and "
        "listed",
    )
    q.add_argument(
        "--line-width",
        type=options.positive_float,
        help="width in pixels for line and line-strip shapes that carry none (needed if the "
        "files have any)",
    )
    q.add_argument(
        "--rasterize",
        choices=RULES,
        default="labelme",
        help="how outlines become pixels: labelme (as Labelme does: filled polygon with its "
        "outline painted; default) or centre (pixels whose centres lie inside)",
    )
    q.add_argument(
        "--overwrite",
        action="store_true",
        help="replace each imported rater's mask by this import (default: merge slices in)",
    )
    q.set_defaults(func=execute)
