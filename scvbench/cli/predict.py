"""``scvbench predict``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.models.runtime import RUNTIMES
from scvbench.steps.predict import predict


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench predict``; return the exit status."""
    done = predict(
        args.bids_dir,
        args.checkpoint,
        args.out,
        args.participant_label,
        args.threshold,
        args.batch_size,
        progress=not args.quiet,
        runtime=args.runtime,
        nprocs=args.nprocs,
    )
    print(f"{len(done)} participant(s) segmented -> {args.out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench predict`` to the command parsers."""
    p = sub.add_parser(
        "predict",
        help=options.COMMANDS["predict"].help,
        description=(
            "Segment the reference-labelled slices (or the analysis slices) of every derived "
            "participant with a checkpoint of scvbench train; writes binary vein masks and "
            "probseg on the MinIP grid, with dataset_description.json naming the model."
        ),
    )
    p.add_argument("bids_dir", type=Path, metavar="BIDS_DIR", help="derived BIDS dataset")
    p.add_argument("--checkpoint", type=Path, required=True, help="model_best.pt of a run")
    p.add_argument("--out", type=Path, required=True, help="submission folder")
    options.add_participant_label(p, "some participants")
    options.add_threshold(p)
    p.add_argument(
        "--batch-size",
        type=options.int_at_least(1),
        help="slices per batch (default: 8 on GPU, 1 on CPU)",
    )
    p.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="auto",
        help="inference back end: openvino or onnx (OpenVINO or ONNX Runtime, float32; the "
        "ONNX export is cached beside the checkpoint), torch, or auto (on a CPU, the fastest "
        "of the three for a trained network, timed on one slice; default)",
    )
    p.add_argument(
        "--nprocs",
        type=options.positive_int,
        default=1,
        help="participants segmented in parallel on a CPU, one thread each (default: 1; the "
        "masks do not depend on it)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=execute)
