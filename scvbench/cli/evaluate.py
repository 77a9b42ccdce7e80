"""``scvbench evaluate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.evaluate import InvalidSubmission, evaluate


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench evaluate``; return the exit status."""
    try:
        result = evaluate(
            args.submission,
            args.reference,
            args.out,
            split=args.split,
            splits_path=args.splits,
            rater=args.rater,
            threshold=args.threshold,
            strict=args.strict,
            published=args.published,
            human_rater=args.human_rater,
            truth=args.truth,
            key_file=args.key_file,
            nprocs=args.nprocs,
            power=args.power,
        )
    except InvalidSubmission as err:
        print(f"scvbench: invalid submission: {err}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"problem: {problem}", file=sys.stderr)
    seg = result.segmentation
    if seg.overall:
        dice = seg.overall["dice"]
        print(
            f"{seg.n_cases} slice(s), {seg.n_invalid} as worst case: Dice "
            f"{dice.mean:.3f} (95 % CI {dice.ci_low:.3f}-{dice.ci_high:.3f}) -> {args.out}"
        )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench evaluate`` to the command parsers."""
    p = sub.add_parser(
        "evaluate",
        help=options.COMMANDS["evaluate"].help,
        description=(
            "Validate a submission (folder, .zip or .tar.gz) and score its vein masks on the "
            "reference-labelled slices of a split: accuracy, Dice, IoU, clDice, precision, "
            "recall, HD95, ASSD, Betti-0 and vessel-count errors, per slice and hemisphere, "
            "with bootstrap CIs. Exit 0 evaluated, 2 invalid under --strict, 1 error."
        ),
    )
    p.add_argument("submission", type=Path, metavar="SUBMISSION", help="folder or archive")
    p.add_argument(
        "--reference",
        type=Path,
        help="the derived BIDS dataset (default: the one the submission links as raw)",
    )
    p.add_argument("--split", choices=["test", "association", "all"], default="test")
    p.add_argument("--splits", type=Path, help="split file (default: BIDS_DIR/code/scvbench/)")
    p.add_argument("--rater", help="reference rater (default: the split file's)")
    p.add_argument("--human-rater", help="rater scored as the human reference (default: another)")
    p.add_argument(
        "--truth", type=Path, help="a synthetic cohort's truth/ folder: also compare with the truth"
    )
    p.add_argument("--key-file", type=Path, help="PatientID-to-participant key (with --truth)")
    options.add_threshold(p, "vein if p >= in probseg-only cases")
    p.add_argument("--strict", action="store_true", help="any problem is fatal (exit 2)")
    p.add_argument(
        "--nprocs",
        type=options.positive_int,
        default=1,
        help="participants scored in parallel (default: 1; the scores do not depend on it)",
    )
    p.add_argument(
        "--published", choices=["paper"], help="also compare with the study's published tests"
    )
    p.add_argument(
        "--power",
        action="store_true",
        help="add the power of the study's right-tortuosity test with this error to the report",
    )
    p.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=execute)
