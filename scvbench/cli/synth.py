"""``scvbench synth``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.parallel import retain_freed_memory
from scvbench.steps.synth import generate_cohort
from scvbench.steps.synth.presets import PRESETS
from scvbench.steps.synth.sites import SITES


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench synth``; return the exit status."""
    retain_freed_memory()  # the process ends with the cohort: freed arrays are reused
    out = generate_cohort(
        args.out,
        preset=args.preset,
        n_subjects=args.subjects,
        seed=args.seed,
        effect=args.effect,
        nprocs=args.nprocs,
        force=args.force,
        sites=args.sites,
    )
    print(f"synthetic cohort in {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench synth`` to the command parsers."""
    p = sub.add_parser(
        "synth",
        help=options.COMMANDS["synth"].help,
        description=(
            "Generate a synthetic cohort: DICOM series as the site's scanner exports them "
            "(Siemens SWI magnitude, phase, SWI and mIP; GE SWAN; Philips SWIp; T2-FLAIR) with "
            "fake patient data, demographics.csv, "
            "fazekas.csv, Labelme annotations from two simulated raters, and truth/ (vein "
            "geometry, true masks and morphometry) that a model must not see."
        ),
    )
    p.add_argument("out", type=Path, help="output folder (new, empty, or a previous cohort)")
    p.add_argument(
        "--preset",
        default="tiny",
        choices=sorted(PRESETS),
        help="image and cohort size: tiny (tests), demo (make demo), paper (364 "
        "subjects, 352x352, the study's protocol); default: tiny",
    )
    p.add_argument(
        "--subjects",
        type=options.positive_int,
        default=None,
        help="number of subjects (default: the preset's)",
    )
    p.add_argument("--seed", type=options.seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--effect",
        choices=("paper", "null"),
        default="paper",
        help="group effects of the study (paper) or none (null); default: paper",
    )
    p.add_argument(
        "--nprocs",
        type=options.positive_int,
        default=1,
        help="subjects generated in parallel (default: 1)",
    )
    p.add_argument(
        "--sites",
        default=None,
        metavar="SITES",
        help="scanner sites: multisite (every site), or names separated by commas from "
        f"{', '.join(SITES)}; subjects are spread evenly over them (default: siemens-3t, "
        "the study's Skyra 3 T)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace a different synthetic cohort already in OUT"
    )
    p.set_defaults(func=execute)
