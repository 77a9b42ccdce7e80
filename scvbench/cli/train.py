"""``scvbench train``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.train import PRECISIONS, RECIPES, SCHEDULES, train_folds

#: Why a run ended, as ``summary.json`` says it.
STOPPED = {
    "iterations": "the recipe's iterations done",
    "plateau": "validation Dice plateaued",
    "target": "target Dice reached",
    "interrupted": "interrupted",
    "tuned": "tuned on the training slices",
}


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench train``; return the exit status."""
    runs = train_folds(
        args.bids_dir,
        args.out,
        args.model,
        args.fold,
        args.recipe,
        args.splits,
        progress=not args.quiet,
        ddp=args.ddp,
        loss=args.loss,
        seed=args.seed,
        iterations=args.iterations,
        batch_size=args.batch_size,
        size=args.size,
        lr=args.lr,
        schedule=args.schedule,
        patch=args.patch,
        foreground=args.foreground,
        precision=args.precision,
        patience=args.patience,
        min_delta=args.min_delta,
        rater=args.rater,
        model_config=args.model_config,
    )
    for fold, out, summary in runs:
        in_float32 = summary.get("best_val_dice_float32")  # validated in bfloat16
        also = "" if in_float32 is None else f" (float32: {in_float32:.3f})"
        print(
            f"{args.model} fold {fold}: {summary['steps']} steps in {summary['train_seconds']} s, "
            f"best validation Dice {summary['best_val_dice']:.3f}{also} at step "
            f"{summary['best_step']} ({STOPPED[summary['stopped']]}) -> {out / 'model_best.pt'}"
        )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench train`` to the command parsers."""
    p = sub.add_parser(
        "train",
        help=options.COMMANDS["train"].help,
        description=(
            "Train MODEL on fold K of BIDS_DIR/code/scvbench/splits.json (or every fold with "
            "--fold all) with a named recipe: paper (the study's schedule: SGD lr 0.01, x0.1 "
            "every 200 iterations, batch 64, 512x512, 1000 iterations), cpu (256x256, batch 4, "
            "300 iterations), cpu-patch (128 px patches, a third centred on veins, AdamW + poly; "
            "DeepLabV3+ one-cycle), "
            "cpu-plateau (cpu-patch until validation Dice improves by less than 0.002 in 8 "
            "validations, the official benchmark's CPU recipe). Seeded; resumes from "
            "RUN_DIR/checkpoint_last.pt; keeps the best model on validation Dice "
            "(model_best.pt), log.csv and config.json."
        ),
    )
    p.add_argument("bids_dir", type=Path, metavar="BIDS_DIR", help="derived BIDS dataset")
    p.add_argument("--model", required=True, help="model name (see scvbench.models)")
    p.add_argument("--fold", type=options.fold, required=True, help="fold 0-3, or all")
    p.add_argument("--recipe", choices=list(RECIPES), default="cpu", help="default: cpu")
    p.add_argument("--loss", choices=["dicece", "cldice"], default="dicece", help="default: dicece")
    p.add_argument("--out", type=Path, required=True, help="run folder (RUN_DIR)")
    p.add_argument("--seed", type=options.seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--iterations", type=options.int_at_least(1), help="override the recipe's iterations"
    )
    p.add_argument("--batch-size", type=options.int_at_least(1), help="override the recipe's batch")
    p.add_argument("--size", type=options.int_at_least(16), help="override the input size (x16)")
    p.add_argument("--lr", type=options.finite_float(False), help="override the learning rate")
    p.add_argument("--schedule", choices=SCHEDULES, help="override the learning-rate schedule")
    p.add_argument(
        "--patch",
        type=options.int_at_least(0),
        help="train on PATCH x PATCH crops (0: whole slices); override the recipe's",
    )
    p.add_argument(
        "--foreground",
        type=options.finite_float(True),
        help="share of patches centred on a vein pixel; override the recipe's",
    )
    p.add_argument(
        "--patience",
        type=options.int_at_least(0),
        help="stop after this many validations without an improvement (0: never); override",
    )
    p.add_argument(
        "--min-delta",
        type=options.finite_float(True),
        help="validation Dice gain that counts as an improvement; override the recipe's",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="forward passes in float32 (the recipes') or bfloat16 autocast, for a CPU with "
        "bfloat16 units (AVX-512 BF16 or AMX)",
    )
    p.add_argument("--splits", type=Path, help="split file (default: BIDS_DIR/code/scvbench/)")
    p.add_argument("--rater", help="reference masks (default: the split file's rater)")
    p.add_argument(
        "--model-config",
        type=options.json_object,
        metavar="JSON",
        help='model settings over the recipe\'s, e.g. \'{"depth": 50, "dropout": 0.5}\'',
    )
    p.add_argument(
        "--ddp",
        action="store_true",
        help="DistributedDataParallel under torchrun (gloo on CPU, nccl on GPU)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=execute)
