"""Write ``docs/reference.md``: every command's ``--help``, as the command line prints it.

Run by ``make docs``; ``tests/test_docs.py`` checks that the committed page is current.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PAGE = Path(__file__).with_name("reference.md")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def reference() -> str:
    """The page's Markdown."""
    os.environ["COLUMNS"] = "100"  # argparse wraps help to the terminal's width
    from scvbench.cli import _get_parser

    parser = _get_parser()
    parts = [
        "# Command reference\n",
        "Every command's `--help`, generated from the command line itself "
        "(`make docs` writes this page).\n",
        "```text\n" + parser.format_help().rstrip() + "\n```\n",
    ]
    for name, command in _subparsers(parser).items():
        actions = _subparsers(command)
        for full, sub in [(name, command)] + [(f"{name} {a}", p) for a, p in actions.items()]:
            parts.append(f"## scvbench {full}\n")
            parts.append("```text\n" + sub.format_help().rstrip() + "\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    PAGE.write_text(reference())
    sys.exit(0)
