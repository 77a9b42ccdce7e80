"""The ``scvbench`` command line: argument parsing only; each command calls one library function."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from collections.abc import Collection, Sequence

from scvbench import __version__
from scvbench.cli.options import COMMANDS
from scvbench.errors import ScvbenchError

__all__ = ["main"]

log = logging.getLogger("scvbench")


def _get_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The command line's parser: every command's options, or only those of ``commands``.

    The other commands are listed by name and help line, their modules not imported: ``main``
    parses with the named command's options only, so that a command loads what it uses.
    """
    parser = argparse.ArgumentParser(
        prog="scvbench",
        description="Superficial cerebral vein segmentation and morphometry on SWI MinIP images.",
    )
    parser.add_argument("--version", action="version", version=f"scvbench {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-v: info, -vv: debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for name, spec in COMMANDS.items():
        if commands is None or name in commands:
            importlib.import_module(f"scvbench.cli.{spec.module}").add_parser(sub)
        else:
            sub.add_parser(name, help=spec.help)
    return parser


def _commands_in(argv: Sequence[str]) -> list[str]:
    """The command ``argv`` names (none or one).

    It is the first word that is not an option: the top-level options take no value.
    """
    for word in argv:
        if word == "--":
            break
        if not word.startswith("-"):
            return [word] if word in COMMANDS else []
    return []


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
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _get_parser(_commands_in(argv))
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
