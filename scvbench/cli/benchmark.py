"""``scvbench benchmark``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.parallel import retain_freed_memory
from scvbench.steps.benchmark import DEFAULT_MODELS, benchmark
from scvbench.steps.synth.presets import PRESETS
from scvbench.steps.train import RECIPES


def execute(args: argparse.Namespace) -> int:
    """Run ``scvbench benchmark``; return the exit status."""
    retain_freed_memory()
    record = benchmark(
        args.out,
        preset=args.preset,
        seed=args.seed,
        models=tuple(args.models),
        folds=args.folds,
        cv_models=tuple(args.cv_models) if args.cv_models else None,
        recipe=args.recipe,
        nprocs=args.nprocs,
        resume=args.resume,
        subjects=args.subjects,
        iterations=args.iterations,
        board=args.leaderboard,
        cards=args.cards,
        state=args.state,
        progress=not args.quiet,
    )
    print(
        f"benchmark done ({record['total_seconds']} s of stages over {record['sessions']} "
        f"run(s)): leaderboard {record['outputs']['leaderboard']}"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench benchmark`` to the command parsers."""
    p = sub.add_parser(
        "benchmark",
        help=options.COMMANDS["benchmark"].help,
        description=(
            "Generate (or find) the synthetic cohort, convert, derive, import the annotations, "
            "write the split, train each model (fold 0, or 4-fold cross-validation with --folds "
            "all), predict the test and association participants, evaluate both splits (with "
            "the published study and the generator's truth), write the model cards and build "
            "the leaderboard. Every stage is stamped in OUT/stages and skipped when done; "
            "--resume continues a stopped run, here or on another machine (training resumes "
            "from its last checkpoint). OUT/benchmark.json records settings, versions, "
            "hardware, time per stage and the data and split checksums."
        ),
    )
    p.add_argument("out", type=Path, metavar="OUT", help="benchmark folder")
    p.add_argument("--preset", choices=list(PRESETS), default="paper", help="default: paper")
    p.add_argument("--seed", type=options.seed, default=0, help="cohort seed (default: 0)")
    p.add_argument(
        "--subjects", type=options.int_at_least(4), help="cohort size (default: the preset's)"
    )
    p.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="MODEL",
        help=f"models to train and score (default: {' '.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--folds", choices=["0", "all"], default="0", help="fold 0 or all four (default: 0)"
    )
    p.add_argument(
        "--cv-models",
        nargs="+",
        metavar="MODEL",
        help="with --folds all: the models cross-validated (default: all; the others fold 0)",
    )
    p.add_argument(
        "--recipe", choices=list(RECIPES), default="cpu-plateau", help="default: cpu-plateau"
    )
    p.add_argument(
        "--iterations", type=options.int_at_least(1), help="override the recipe's iterations"
    )
    p.add_argument(
        "--nprocs", type=options.int_at_least(1), default=1, help="processes (default: 1)"
    )
    p.add_argument("--resume", action="store_true", help="continue the run in OUT")
    p.add_argument("--leaderboard", type=Path, help="leaderboard folder (default: OUT/leaderboard)")
    p.add_argument("--cards", type=Path, help="model-card folder (default: OUT/baselines)")
    p.add_argument(
        "--state",
        type=Path,
        metavar="DIR",
        help=(
            "keep the run's state (run record, stamps, training logs, evaluations; no data, "
            "checkpoints or masks) in DIR after every stage; a new OUT is seeded from it, so "
            "that the run continues on another machine with only its data made again"
        ),
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines or bars")
    p.set_defaults(func=execute)
