"""The benchmark's model cards: gather a baseline's run records and write its card folder.

``CARDS/<model>/``: ``README.md`` (the card), ``learning_curve.png``, ``config.json`` (fold 0's
resolved training configuration), ``results.json`` (training summaries per fold and the scores
of every split) and ``evaluation-test.html`` (the evaluation report of the test split).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pandas as pd

from scvbench import io
from scvbench.report.cards import learning_curve, render_card
from scvbench.steps.baselines import MODEL_NOTES

__all__ = ["write_card"]


def _command(settings: dict, model: str) -> str:
    words = [
        "scvbench",
        "benchmark",
        "OUT",
        "--preset",
        settings["preset"],
        "--seed",
        str(settings["seed"]),
        "--models",
        model,
        "--recipe",
        settings["recipe"],
        "--folds",
        settings["folds"],
    ]
    if (
        settings["folds"] == "all"
        and settings.get("cv_models")
        and model not in settings["cv_models"]
    ):
        words[-1] = "0"
    if settings.get("subjects"):
        words += ["--subjects", str(settings["subjects"])]
    if settings.get("iterations"):
        words += ["--iterations", str(settings["iterations"])]
    return shlex.join(words)


def write_card(folder: Path, model: str, per_fold: dict, runs: Path, settings: dict) -> Path:
    """Write ``folder`` (the card of ``model``) from its runs; return the card's path.

    Parameters
    ----------
    folder : Path
        The card folder.
    model : str
        The model.
    per_fold : dict
        Fold to ``run`` (the training folder) and ``scores`` (per split, the evaluation's
        ``dice``).
    runs : Path
        The model's runs folder (``evaluation-test`` and ``evaluation-association`` of fold 0).
    settings : dict
        The benchmark's settings.

    Returns
    -------
    Path
        ``folder/README.md``.
    """
    test = json.loads((runs / "evaluation-test" / "results.json").read_text())
    association = json.loads((runs / "evaluation-association" / "results.json").read_text())
    logs, folds = {}, []
    for fold, info in sorted(per_fold.items()):
        run = Path(info["run"])
        summary = json.loads((run / "summary.json").read_text())
        log = pd.read_csv(run / "log.csv")
        logs[fold] = log.to_dict(orient="records")
        folds.append(
            {
                "fold": fold,
                "steps": summary["steps"],
                "stopped": summary.get("stopped"),
                "best_val_dice": summary["best_val_dice"],
                "test_dice": info["scores"]["test"]["dice"],
                "train_seconds": summary["train_seconds"],
            }
        )
    first = Path(per_fold[0]["run"])
    config = json.loads((first / "config.json").read_text())
    training = json.loads((first / "summary.json").read_text())
    manifest = json.loads((runs.parents[1] / "sourcedata" / "truth" / "manifest.json").read_text())
    stamp = json.loads((runs.parents[1] / "stages" / "synth.json").read_text())
    dataset = {
        "preset": manifest.get("preset"),
        "seed": manifest.get("seed"),
        "cohort_checksum": stamp["outputs"]["cohort_checksum"],
        "splits_checksum": test["reference"]["splits_checksum"],
        "data_checksum": test["reference"]["data_checksum"],
    }
    record = {
        "model": model,
        "notes": MODEL_NOTES.get(model, model),
        "config": config,
        "training": training,
        "dataset": dataset,
        "test": test,
        "association": association,
        "folds": folds,
        "command": _command(settings, model),
    }
    power = runs / "evaluation-association" / "power.json"
    record["power"] = json.loads(power.read_text()) if power.is_file() else None
    if record["power"]:
        io.write_bytes(folder / "power.png", power.with_suffix(".png").read_bytes())
    io.write_bytes(folder / "learning_curve.png", learning_curve(logs, f"{model} (synthetic)"))
    io.write_json(folder / "config.json", config)
    io.write_json(
        folder / "results.json",
        {
            "model": model,
            "dataset": dataset,
            "folds": folds,
            "training": training,
            "test": test["segmentation"]["overall"],
            "morphometry": test["morphometry"],
            "association": association["association"],
        },
    )
    io.write_text(folder / "README.md", render_card(record))
    return folder / "README.md"
