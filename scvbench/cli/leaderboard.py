"""``scvbench leaderboard``."""

from __future__ import annotations

import argparse
from pathlib import Path

from scvbench.cli import options
from scvbench.steps.leaderboard import add_entry, build


def _cmd_leaderboard_add(args: argparse.Namespace) -> int:
    path = add_entry(
        args.results,
        args.dir,
        args.name,
        args.run,
        args.replace,
        args.association,
        card=args.card,
        report=args.report,
    )
    print(f"entry -> {path}; rebuild with scvbench leaderboard build")
    return 0


def _cmd_leaderboard_build(args: argparse.Namespace) -> int:
    paths = build(args.dir)
    print(f"leaderboard -> {paths['readme']}, {paths['csv']}, {paths['html']}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add ``scvbench leaderboard`` to the command parsers."""
    p = sub.add_parser(
        "leaderboard",
        help=options.COMMANDS["leaderboard"].help,
        description="Entries with provenance; rank-then-aggregate with bootstrap rank intervals.",
    )
    actions = p.add_subparsers(dest="action", metavar="<action>", required=True)
    q = actions.add_parser(
        "add",
        help="add a test-split results.json (cases.tsv beside it)",
        description=(
            "Add an entry from results.json of scvbench evaluate --split test; refused when its "
            "reference data or split checksum differs from the leaderboard's."
        ),
    )
    q.add_argument("results", type=Path, metavar="RESULTS_JSON", help="results.json")
    q.add_argument("--name", help="entry name (default: the model named by the submission)")
    q.add_argument("--run", type=Path, help="training run folder (summary.json: time, hardware)")
    q.add_argument("--dir", type=Path, default=Path("leaderboard"), help="leaderboard folder")
    q.add_argument("--replace", action="store_true", help="replace an entry of the same name")
    q.add_argument("--card", help="the model card the page links (URL, or a file linked relative)")
    q.add_argument("--report", help="the evaluation report the page links (URL or file)")
    q.add_argument(
        "--association",
        type=Path,
        help="results.json of the same submission on the association split (reproduction score)",
    )
    q.set_defaults(func=_cmd_leaderboard_add)
    q = actions.add_parser(
        "build",
        help="render README.md, leaderboard.csv and index.html",
        description="Rank the entries and render the table, CSV and static HTML page.",
    )
    q.add_argument("--dir", type=Path, default=Path("leaderboard"), help="leaderboard folder")
    q.set_defaults(func=_cmd_leaderboard_build)
