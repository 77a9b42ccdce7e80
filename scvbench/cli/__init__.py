"""The ``scvbench`` command line: argument parsing only; each command calls one library function."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from scvbench import __version__
from scvbench.cli import (
    annotate,
    baselines,
    convert,
    derive,
    evaluate,
    leaderboard,
    morph,
    predict,
    run,
    slurm,
    splits,
    stats,
    synth,
    train,
    validate,
)
from scvbench.errors import ScvbenchError

__all__ = ["main"]

log = logging.getLogger("scvbench")

_COMMANDS = (
    synth,
    convert,
    validate,
    derive,
    annotate,
    morph,
    stats,
    splits,
    train,
    predict,
    evaluate,
    leaderboard,
    run,
    slurm,
    baselines,
)


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
    for command in _COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 bad input, 2 bad usage)."""
    parser = _get_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named with the command's own usage (``scvbench run``'s for the BIDS-App)
            getattr(args, "usage_parser", parser).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
    except SystemExit as exc:  # argparse prints its own message
        return int(exc.code or 0)
    verbosity = args.verbose + getattr(args, "run_verbose", 0)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbosity, 2)]
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
