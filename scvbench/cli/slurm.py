"""``scvbench slurm``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.app.slurm import RUNTIMES, SlurmOptions, submit, write_scripts
from scvbench.cli import options


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench slurm``; return the exit status."""
    paths = write_scripts(
        SlurmOptions(
            bids_dir=args.bids_dir,
            output_dir=args.output_dir,
            image=args.image,
            runtime=args.runtime,
            participant_labels=args.participant_label,
            partition=args.partition,
            account=args.account,
            time=args.time,
            group_time=args.group_time,
            cpus=args.cpus,
            mem_gb=args.mem,
            max_parallel=args.max_parallel,
            work_dir=args.work_dir,
            script_dir=args.script_dir,
            checkpoint=args.checkpoint,
            model=args.model,
            slab_mm=args.slab_mm,
            step_mm=args.step_mm,
            threshold=args.threshold,
            skip_validation=args.skip_bids_validation,
        )
    )
    tasks = len(paths["participants"].read_text().split())
    print(f"{tasks} participant task(s): {paths['participant']}")
    print(f"group job: {paths['group']}")
    if args.submit:
        array, group = submit(paths)
        print(f"submitted: participant array {array}, group job {group} (afterok:{array})")
    else:
        print(f"submit with: bash {paths['submit']}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench slurm`` to the command parsers."""
    p = sub.add_parser(
        "slurm",
        help=options.COMMANDS["slurm"].help,
        description=(
            "Write SLURM scripts that run the BIDS-App image: a job array with one participant "
            "per task (its own work folder on node-local scratch; exit codes collected in "
            "participant_status.tsv) and a group job submitted with --dependency=afterok on "
            "the array. The dataset is validated once here; the tasks skip it."
        ),
    )
    p.add_argument("bids_dir", type=Path, help="the raw BIDS dataset (shared file system)")
    p.add_argument("output_dir", type=Path, help="the BIDS-App's output folder (shared)")
    p.add_argument("--image", help="container image: a .sif file, or a docker image name")
    p.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="apptainer",
        help="how tasks run the image (native: the scvbench installed here, no image); "
        "default: apptainer",
    )
    options.add_participant_label(p, "participants to run (default: all)", bids_app=True)
    p.add_argument("--partition", help="SLURM partition")
    p.add_argument("--account", help="SLURM account")
    p.add_argument("--time", default="02:00:00", help="time limit per participant (02:00:00)")
    p.add_argument("--group-time", default="01:00:00", help="time limit of the group job")
    p.add_argument(
        "--cpus",
        type=options.positive_int,
        default=4,
        help="CPUs per participant task (default: 4)",
    )
    p.add_argument(
        "--mem",
        type=options.memory_gb,
        default=16.0,
        help="memory per task in GB, also given to scvbench run --mem (default: 16)",
    )
    p.add_argument(
        "--max-parallel", type=options.positive_int, help="array tasks running at once (%%N)"
    )
    p.add_argument(
        "--work-dir",
        default="${TMPDIR:-/tmp}",
        help="node-local scratch for the work folders (default: ${TMPDIR:-/tmp})",
    )
    p.add_argument(
        "--script-dir", type=Path, help="where the scripts go (default: OUTPUT_DIR/slurm)"
    )
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument("--checkpoint", type=Path, help="a model trained by scvbench train")
    model.add_argument("--model", help="a model that needs no training (frangi)")
    options.add_minip(p)
    options.add_threshold(p, "vein probability threshold")
    p.add_argument(
        "--skip-bids-validation",
        "--skip_bids_validation",
        action="store_true",
        help="do not validate the dataset before writing the scripts",
    )
    p.add_argument("--submit", action="store_true", help="submit them now with sbatch")
    p.set_defaults(func=execute, usage_parser=p)
