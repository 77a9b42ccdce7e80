"""The ``scvbench`` command line: argument parsing only; each command calls one library function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from scvbench import __version__
from scvbench.errors import ScvbenchError

__all__ = ["main"]

log = logging.getLogger("scvbench")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            words = "at least 1" if minimum == 1 else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"must be {words}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_seed = _int_at_least(0)


def _cmd_synth(args: argparse.Namespace) -> int:
    from scvbench.synth import generate_cohort

    out = generate_cohort(
        args.out,
        preset=args.preset,
        n_subjects=args.subjects,
        seed=args.seed,
        effect=args.effect,
        nprocs=args.nprocs,
        force=args.force,
    )
    log.info("synthetic cohort written to %s", out)
    print(f"synthetic cohort in {out}")
    return 0


def _add_synth(sub: argparse._SubParsersAction) -> None:
    from scvbench.synth.presets import PRESETS

    p = sub.add_parser(
        "synth",
        help="generate a synthetic SWI/FLAIR cohort with known ground truth",
        description=(
            "Generate a synthetic cohort: Siemens-like DICOM series (SWI magnitude, phase, "
            "scanner-processed SWI and mIP, T2-FLAIR) with fake patient data, demographics.csv, "
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
        type=_positive_int,
        default=None,
        help="number of subjects (default: the preset's)",
    )
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument(
        "--effect",
        choices=("paper", "null"),
        default="paper",
        help="group effects of the study (paper) or none (null); default: paper",
    )
    p.add_argument(
        "--nprocs",
        type=_positive_int,
        default=1,
        help="subjects generated in parallel (default: 1)",
    )
    p.add_argument(
        "--force", action="store_true", help="replace a different synthetic cohort already in OUT"
    )
    p.set_defaults(func=_cmd_synth)


_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_synth]


def _get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scvbench",
        description="Superficial cerebral vein segmentation and morphometry on SWI MinIP images.",
    )
    parser.add_argument("--version", action="version", version=f"scvbench {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v: info, -vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 bad input, 2 bad usage)."""
    parser = _get_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse prints its own message
        return int(exc.code or 0)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except ScvbenchError as err:
        print(f"scvbench: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scvbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
