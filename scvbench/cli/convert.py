"""``scvbench convert``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scvbench.bids.keys import read_key
from scvbench.cli import options
from scvbench.steps.convert.run import convert_dataset, format_plan


def _read_mapping(path: Path | None) -> dict[str, str] | None:

    return None if path is None else read_key(path, "label mapping")


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench convert``; return the exit status."""
    report = convert_dataset(
        args.dicom_dir,
        args.bids_dir,
        demographics=args.demographics,
        fazekas=args.fazekas,
        config=args.config,
        key_file=args.key_file,
        mapping=_read_mapping(args.mapping),
        participant_labels=args.participant_label,
        dry_run=args.dry_run,
        overwrite=args.overwrite,
        nprocs=args.nprocs,
    )
    if args.dry_run:
        print(format_plan(report.plans, report.skipped_files))
        for problem in report.sheet_problems:
            print(f"scvbench: error: {problem}", file=sys.stderr)
        return 1 if report.sheet_problems else 0
    print(
        f"converted {len(report.converted)}, already present {len(report.up_to_date)}, "
        f"failed {len(report.failed)} participant(s) in {args.bids_dir}"
    )
    for plan in report.plans:
        for series, result, target in plan.series:
            if target is None:
                print(
                    f"sub-{plan.label}: series {series.number} ({series.description}) not "
                    f"used: {result.reason}"
                )
    for skipped in report.skipped_files:
        print(f"skipped {skipped.path}: {skipped.reason}")
    for label, reason in sorted(report.failed.items()):
        print(f"scvbench: error: sub-{label}: {reason}", file=sys.stderr)
    for problem in report.sheet_problems:
        print(f"scvbench: error: {problem}", file=sys.stderr)
    return 1 if report.failed or report.sheet_problems else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench convert`` to the command parsers."""
    p = sub.add_parser(
        "convert",
        help=options.COMMANDS["convert"].help,
        description=(
            "Find and classify DICOM series, convert them with dcm2niix, strip protected health "
            "information, and write a BIDS dataset with participants.tsv and "
            "phenotype/fazekas.tsv. Participants already converted are kept unless --overwrite."
        ),
    )
    p.add_argument("dicom_dir", type=Path, help="folder with DICOM files, any nesting")
    p.add_argument("bids_dir", type=Path, help="BIDS dataset to create or extend")
    p.add_argument(
        "--demographics", type=Path, help="CSV: patient_id, sex, age[, education_years, handedness]"
    )
    p.add_argument(
        "--fazekas",
        type=Path,
        help="CSV: patient_id, rater1_dwm, rater1_pv, rater2_dwm, rater2_pv, "
        "consensus_dwm, consensus_pv",
    )
    p.add_argument(
        "--config",
        type=Path,
        help='JSON series rules tried before the built-in table: {"rules": [{"kind": '
        '"swi", "match": {"SeriesDescription": "regex"}}]}',
    )
    p.add_argument(
        "--key-file", type=Path, help="where to write the PatientID-to-label key (outside BIDS_DIR)"
    )
    p.add_argument(
        "--mapping",
        type=Path,
        help="CSV: patient_id, participant_id (default: sequential labels 001, 002, "
        "... in PatientID order)",
    )
    options.add_participant_label(p, "convert only these participants (with or without sub-)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (series -> BIDS name, or why skipped); write nothing",
    )
    p.add_argument("--overwrite", action="store_true", help="redo participants already present")
    p.add_argument(
        "--nprocs",
        type=options.positive_int,
        default=1,
        help="participants converted in parallel (default: 1)",
    )
    p.set_defaults(func=execute)
