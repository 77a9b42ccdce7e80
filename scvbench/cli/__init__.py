"""The ``scvbench`` command line: argument parsing only; each command calls one library function."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import sys
from collections.abc import Sequence

from scvbench import __version__
from scvbench.cli import (
    annotate,
    baselines,
    benchmark,
    convert,
    derive,
    evaluate,
    leaderboard,
    morph,
    power,
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
    power,
    run,
    slurm,
    baselines,
    benchmark,
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


_OS_FIXES = {
    errno.ENOTDIR: "a file stands where a folder is needed: choose another path",
    errno.EISDIR: "a folder stands where a file is needed: choose another path",
    errno.ENOENT: "no such file or folder: check the path",
    errno.EACCES: "permission denied: choose a place you can read and write",
    errno.EPERM: "not permitted: choose a place you can read and write",
    errno.EROFS: "read-only file system: choose a writable place",
    errno.ENOSPC: "no space left on the device: free some or choose another place",
    errno.EEXIST: "already exists: remove it or choose another path",
}


def describe_os_error(err: OSError) -> str:
    """One line for a file system error: the path and what to do."""
    code = err.errno or 0
    if code == errno.EEXIST and os.path.isfile(str(err.filename)):
        code = errno.ENOTDIR  # a folder was to be made where a file is
    fix = _OS_FIXES.get(code, err.strerror or str(err))
    return f"{err.filename}: {fix}"


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
    except OSError as err:  # a path given that cannot be read or written as the command needs
        if err.filename is None:
            raise
        print(f"scvbench: error: {describe_os_error(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("scvbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
