"""Argument types and option groups shared by the commands."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import NamedTuple

from scvbench.defaults import DEFAULTS


class Command(NamedTuple):
    """A command: the module of ``scvbench.cli`` that parses and runs it, and its one line."""

    module: str
    help: str


#: Every command, in the order ``scvbench --help`` lists them. The command line imports only
#: the module of the command it runs (with the libraries that module needs): ``--help`` and
#: each command start without loading every other command's dependencies.
COMMANDS = {
    "synth": Command("synth", "generate a synthetic SWI/FLAIR cohort with known ground truth"),
    "convert": Command(
        "convert", "convert scanner DICOM (SWI, FLAIR) to a de-identified BIDS dataset"
    ),
    "validate": Command("validate", "run the official BIDS validator on a dataset"),
    "derive": Command(
        "derive", "MinIP, brain and hemisphere masks, analysis slices, Labelme exports, QC reports"
    ),
    "annotations": Command("annotate", "import Labelme vein outlines as reference masks"),
    "morph": Command("morph", "superficial-vein morphometry: length, tortuosity, diameter, count"),
    "stats": Command(
        "stats", "the study's group statistics: Tables 2 and 3, logistic regression, report"
    ),
    "splits": Command(
        "splits",
        "the fixed subject-level 6:2:2 split (test + 4 folds), stratified by sex and DWML",
    ),
    "train": Command("train", "train a segmentation model on a fold of the fixed split"),
    "predict": Command("predict", "segment veins with a trained model: a submission folder"),
    "evaluate": Command("evaluate", "score a submission against the reference vein masks"),
    "leaderboard": Command("leaderboard", "add evaluated submissions and render the leaderboard"),
    "power": Command("power", "participants a study needs when a model measures the veins"),
    "run": Command("run", "the BIDS-App: participant and group levels (what the container runs)"),
    "slurm": Command(
        "slurm", "sbatch scripts: a participant job array and a group job that waits for it"
    ),
    "baselines": Command(
        "baselines", "train, predict and score the baseline models; write their cards"
    ),
    "benchmark": Command(
        "benchmark",
        "the official benchmark: cohort, dataset, baselines, evaluation, leaderboard",
    ),
}


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
