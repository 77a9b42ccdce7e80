"""Argument types and option groups shared by the commands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

from scvbench.defaults import DEFAULTS


def int_at_least(minimum: int) -> Callable[[str], int]:
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


def finite_float(allow_zero: bool) -> Callable[[str], float]:
    """An argparse type: a finite number above 0 (or from 0 with ``allow_zero``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        low_ok = value >= 0 if allow_zero else value > 0
        if not (low_ok and value < float("inf")):
            words = "0 or more" if allow_zero else "a positive number"
            raise argparse.ArgumentTypeError(f"must be {words}, got {text}")
        return value

    return parse


def json_object(text: str) -> dict:
    """An argparse type: a JSON object such as ``{"depth": 18}``."""
    try:
        value = json.loads(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not JSON: {err}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("give a JSON object, e.g. '{\"depth\": 18}'")
    return value


def fold(text: str) -> int | str:
    """An argparse type: a fold number from 0, or ``all``."""
    if text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"fold must be 0-3 or all, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"fold must be 0-3 or all, got {text!r}")
    return value


def memory_gb(text: str) -> float:
    """An argparse type: memory in GB (``16``, ``16G``, ``16GB``, ``16000MB``)."""
    raw = text.strip().upper().removesuffix("B")
    scale = 1.0
    if raw.endswith("G"):
        raw = raw[:-1]
    elif raw.endswith("M"):
        raw, scale = raw[:-1], 1e-3
    try:
        value = float(raw) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected memory in GB such as 16 or 16GB, got {text!r}"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive amount of memory, got {text!r}")
    return value


positive_int = int_at_least(1)

seed = int_at_least(0)

positive_float = finite_float(allow_zero=False)

non_negative_float = finite_float(allow_zero=True)


def add_minip(parser: argparse.ArgumentParser) -> None:
    """``--slab-mm`` and ``--step-mm``: the MinIP slab and step, defaults of the study."""
    parser.add_argument(
        "--slab-mm",
        type=positive_float,
        default=DEFAULTS.slab_mm,
        help=f"MinIP slab thickness in mm (default: {DEFAULTS.slab_mm:g})",
    )
    parser.add_argument(
        "--step-mm",
        type=positive_float,
        default=DEFAULTS.step_mm,
        help=f"step between MinIP slices in mm (default: {DEFAULTS.step_mm:g})",
    )


def probability(text: str) -> float:
    """An argparse type: a probability strictly between 0 and 1 (a threshold)."""
    value = finite_float(False)(text)
    if not value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_threshold(parser: argparse.ArgumentParser, what: str = "vein if p >=") -> None:
    """``--threshold``: the vein probability threshold, between 0 and 1."""
    parser.add_argument(
        "--threshold",
        type=probability,
        default=DEFAULTS.threshold,
        help=f"{what} (default: {DEFAULTS.threshold:g})",
    )


def add_participant_label(parser: argparse.ArgumentParser, what: str, bids_app: bool = False):
    """``--participant-label``: some participants, with or without ``sub-``."""
    names = ("--participant-label", "--participant_label") if bids_app else ("--participant-label",)
    parser.add_argument(*names, nargs="+", metavar="LABEL", help=what)
