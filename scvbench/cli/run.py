"""``scvbench run``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scvbench import __version__
from scvbench.app.run import LEVELS, RunOptions, default_threads, run
from scvbench.cli import options


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench run``; return the exit status."""
    report = run(
        RunOptions(
            bids_dir=args.bids_dir,
            output_dir=args.output_dir,
            level=args.analysis_level,
            participant_labels=args.participant_label,
            skip_bids_validation=args.skip_bids_validation,
            work_dir=args.work_dir,
            nprocs=args.nprocs,
            mem_gb=args.mem,
            checkpoint=args.checkpoint,
            model=args.model,
            slab_mm=args.slab_mm,
            step_mm=args.step_mm,
            threshold=args.threshold,
            overwrite=args.overwrite,
            dry_run=args.dry_run,
        )
    )
    for note in report.notes:
        print(f"scvbench: warning: {note}", file=sys.stderr)
    if args.dry_run:
        print(f"{args.analysis_level} level, dry run (nothing written):")
        for line in report.plan:
            print(f"  {line}")
        return 0
    if report.reused:
        print(
            f"{len(report.reused)} participant(s) derived alike before in "
            f"{args.bids_dir}/derivatives/scvbench: copied, not derived again"
        )
    if args.analysis_level == "participant":
        print(
            f"participant level: {len(report.done)} done, {len(report.up_to_date)} up to date, "
            f"{len(report.failed)} failed; reports {args.output_dir}/sub-<label>.html"
        )
    else:
        print(
            f"group level: {len(report.done)} participants; report "
            f"{report.outputs['group_report']}, morphometry {report.outputs['morphometry']}"
        )
    for pid, reason in sorted(report.failed.items()):
        print(f"scvbench: error: {pid}: {reason}", file=sys.stderr)
    return 1 if report.failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench run`` to the command parsers."""
    p = sub.add_parser(
        "run",
        help=options.COMMANDS["run"].help,
        description=(
            "BIDS-App entry point. participant: derive the MinIP and masks, segment the veins "
            "with a model, measure them and write sub-<label>.html for each participant named "
            "(default all); participants already run with the same inputs, model and settings "
            "are skipped. group: the group morphometry table, the study's statistics, the "
            "evaluation against reference masks when the dataset has them, and "
            "group_report.html. BIDS_DIR is only read; results go to OUTPUT_DIR."
        ),
    )
    p.add_argument("bids_dir", type=Path, help="the raw BIDS dataset (read only)")
    p.add_argument("output_dir", type=Path, help="where the derivatives and reports go")
    p.add_argument("analysis_level", choices=LEVELS, help="participant or group")
    options.add_participant_label(
        p, "participants to process, with or without sub- (default: all)", bids_app=True
    )
    p.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        "--skip_bids_validator",
        action="store_true",
        help="do not run the BIDS validator on BIDS_DIR first",
    )
    p.add_argument(
        "-w",
        "--work-dir",
        type=Path,
        help="work folder, node-local scratch on a cluster (default: a temporary folder, removed)",
    )
    p.add_argument(
        "--nprocs",
        "--n-cpus",
        "--n_cpus",
        type=options.positive_int,
        default=default_threads(),
        help="CPUs to use: participants derived at once and inference threads "
        "(default: all the CPUs this process may use)",
    )
    p.add_argument(
        "--mem",
        "--mem-gb",
        "--mem_gb",
        type=options.memory_gb,
        help="memory limit in GB: fewer participants run at once when they would not fit",
    )
    model = p.add_mutually_exclusive_group()
    model.add_argument(
        "--checkpoint",
        type=Path,
        help="a model trained by scvbench train (RUN/model_best.pt)",
    )
    model.add_argument(
        "--model",
        help="a model that needs no training, run with its default parameters (frangi)",
    )
    options.add_minip(p)
    options.add_threshold(p, "vein probability threshold")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="redo participants already run (also with other inputs, settings or model)",
    )
    p.add_argument("--dry-run", action="store_true", help="print what would run and write nothing")
    p.add_argument("--version", action="version", version=f"scvbench {__version__}")
    p.add_argument(
        "--verbose",
        dest="run_verbose",
        action="count",
        default=0,
        help="more logging (repeat for debug)",
    )
    p.set_defaults(func=execute, usage_parser=p)
