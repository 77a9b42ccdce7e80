"""``scvbench benchmark``: the official benchmark from one command, resumable stage by stage.

Stages, in order: ``synth`` (the cohort, or the one already in ``OUT/sourcedata`` when it is the
same), ``convert``, ``derive``, ``annotations``, ``splits``; per model and fold ``train``
(resumed from its last checkpoint), ``predict`` (fold 0: the test and association
participants; other folds: the test participants) and ``evaluate`` (fold 0: the test split and
the association cohort, with the published study and the generator's truth; other folds: the
test split); after each model its card and the leaderboard, rebuilt every run. Every stage but the
last is stamped (:mod:`scvbench.steps.benchmark.stamps`) and skipped when done.
"""

from __future__ import annotations

import os
from pathlib import Path

from scvbench import io
from scvbench.bids.layout import sha256
from scvbench.errors import ScvbenchError
from scvbench.steps.benchmark.cards import write_card
from scvbench.steps.benchmark.data import data_stages
from scvbench.steps.benchmark.stamps import RECORD, StageBook
from scvbench.steps.benchmark.state import forget_missing, seed_from_state
from scvbench.steps.evaluate import evaluate
from scvbench.steps.leaderboard import add_entry, build
from scvbench.steps.predict import predict
from scvbench.steps.train import hardware, resolve_config, train
from scvbench.steps.train.config import config_record

__all__ = ["DEFAULT_MODELS", "benchmark"]

#: The baselines of the official benchmark.
DEFAULT_MODELS = ("frangi", "unet", "attention_unet", "deeplabv3plus")


def _check_folder(out: Path, resume: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ScvbenchError(f"{out} is not a folder; choose a folder for the benchmark")
    if not out.exists() or not any(out.iterdir()):
        return
    if not (out / RECORD).is_file():
        raise ScvbenchError(
            f"{out} is not empty and holds no benchmark run ({RECORD} is missing); choose an "
            "empty or new folder"
        )
    if not resume:
        raise ScvbenchError(
            f"{out} holds a benchmark run: pass --resume to continue it (finished stages are "
            "skipped), or choose a new folder"
        )


def _splits(fold: int) -> tuple[str, ...]:
    """The splits a fold is evaluated on: fold 0 makes the entry (test and association)."""
    return ("test", "association") if fold == 0 else ("test",)


def _model_stages(book, out, settings, model, folds, document, nprocs, progress, counter):
    """Train, predict and evaluate one model on each fold; returns its per-fold outputs."""
    bids, key, truth = out / "bids", out / "key.csv", out / "sourcedata" / "truth"
    total = settings["total_stages"]
    runs = out / "runs" / model
    per_fold = {}
    for fold in folds:
        config = resolve_config(model, settings["recipe"], fold, iterations=settings["iterations"])
        run = runs / f"fold-{fold}"

        checkpoint = run / "model_best.pt"
        participants = document["test"] + (document["association"] if fold == 0 else [])
        submission = runs / "submission" if fold == 0 else run / "submission"
        suffix = "" if fold == 0 else f":fold-{fold}"
        forget_missing(
            book,
            f"train:{model}:fold-{fold}",
            f"predict:{model}{suffix}",
            [f"evaluate:{model}{suffix}:{split}" for split in _splits(fold)],
            run,
            submission,
        )

        def fit(config=config, run=run, checkpoint=checkpoint) -> dict:
            summary = train(bids, run, config, progress=progress)
            kept = {k: summary.get(k) for k in ("steps", "best_val_dice", "best_step", "stopped")}
            return {**kept, "checkpoint": sha256(checkpoint)}

        trained = book.run(
            f"train:{model}:fold-{fold}",
            {"config": config_record(config), "splits": document["checksum"]},
            fit,
            next(counter),
            total,
        )

        def segment(checkpoint=checkpoint, participants=participants, submission=submission):
            written = predict(
                bids, checkpoint, submission, participants, progress=progress, nprocs=nprocs
            )
            return {"participants": len(written)}

        made = {"checkpoint": trained["checkpoint"], "participants": len(participants)}
        book.run(f"predict:{model}{suffix}", made, segment, next(counter), total)
        scores = {}
        for split in _splits(fold):
            folder = runs / f"evaluation-{split}" if fold == 0 else run / f"evaluation-{split}"

            def score(split=split, folder=folder, submission=submission) -> dict:
                result = evaluate(
                    submission,
                    bids,
                    folder,
                    split=split,
                    published="paper",
                    truth=truth,
                    key_file=key,
                    nprocs=nprocs,
                    power=split == "association",
                )
                dice = result.segmentation.overall.get("dice")
                return {
                    "dice": None if dice is None else dice.mean,
                    "data_checksum": result.reference.data_checksum,
                }

            scores[split] = book.run(
                f"evaluate:{model}{suffix}:{split}",
                {**made, "splits": document["checksum"]},
                score,
                next(counter),
                total,
            )
        per_fold[fold] = {"training": trained, "scores": scores, "run": run}
    return per_fold


def _publish(out, model, per_fold, board, cards, settings) -> None:
    """Write the model card and enter fold 0 on the leaderboard (replacing its entry)."""
    runs = out / "runs" / model
    card = write_card(cards / model, model, per_fold, runs, settings)
    report = cards / model / "evaluation-test.html"
    io.write_bytes(report, (runs / "evaluation-test" / "report.html").read_bytes())
    add_entry(
        runs / "evaluation-test" / "results.json",
        board,
        name=model,
        run_dir=per_fold[0]["run"],
        replace=True,
        association_path=runs / "evaluation-association" / "results.json",
        card=card,
        report=report,
    )


def benchmark(
    out: str | os.PathLike[str],
    preset: str = "paper",
    seed: int = 0,
    models: tuple[str, ...] = DEFAULT_MODELS,
    folds: str = "0",
    cv_models: tuple[str, ...] | None = None,
    recipe: str = "cpu-plateau",
    nprocs: int = 1,
    resume: bool = False,
    subjects: int | None = None,
    iterations: int | None = None,
    board: str | os.PathLike[str] | None = None,
    cards: str | os.PathLike[str] | None = None,
    state: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> dict:
    """Run the benchmark into ``out``; finished stages are skipped with ``resume``.

    Parameters
    ----------
    out : path
        The benchmark folder (cohort, dataset, runs, stamps, run record).
    preset : str
        The cohort preset (``paper`` is the official benchmark).
    seed : int
        The cohort's seed.
    models : tuple of str
        The models to train and score.
    folds : str
        ``"0"`` (fold 0) or ``"all"`` (4-fold cross-validation; fold 0 makes the entry).
    cv_models : tuple of str, optional
        With ``folds="all"``, the models cross-validated (default: all); the others fold 0.
    recipe : str
        The training recipe.
    nprocs : int
        Processes for the cohort, conversion, derivation and evaluation.
    resume : bool
        Continue a run in ``out`` (without it ``out`` must be new or empty).
    subjects : int, optional
        Cohort size (default: the preset's).
    iterations : int, optional
        Training iterations over the recipe's.
    board, cards : path, optional
        The leaderboard and model-card folders (default ``OUT/leaderboard``, ``OUT/baselines``).
    state : path, optional
        A folder mirroring the run's portable state after every stage; a new ``out`` is seeded
        from it (:mod:`scvbench.steps.benchmark.state`).
    progress : bool
        Progress lines and bars.

    Returns
    -------
    dict
        The run record (also ``OUT/benchmark.json``).
    """
    out = Path(out)
    if folds not in ("0", "all"):
        raise ScvbenchError(f"folds must be 0 or all, got {folds!r}")
    if not models:
        raise ScvbenchError("no models to benchmark; name at least one")
    for model in models:  # unknown models and recipes fail before any work
        resolve_config(model, recipe, 0, iterations=iterations)
    _check_folder(out, resume)
    unknown = sorted(set(cv_models or ()) - set(models))
    if unknown:
        raise ScvbenchError(f"--cv-models {' '.join(unknown)}: not among the --models")
    fold_lists = {
        m: [0, 1, 2, 3] if folds == "all" and (not cv_models or m in cv_models) else [0]
        for m in models
    }
    # per fold: train, predict and evaluate (fold 0 evaluates two splits)
    stages = sum(len(f) * 3 + 1 for f in fold_lists.values())
    settings = {
        "preset": preset,
        "seed": seed,
        "subjects": subjects,
        "models": list(models),
        "folds": folds,
        "cv_models": list(cv_models) if cv_models else None,
        "recipe": recipe,
        "iterations": iterations,
        "nprocs": nprocs,
        "total_stages": 5 + stages,
    }
    board = Path(board) if board else out / "leaderboard"
    cards = Path(cards) if cards else out / "baselines"
    out.mkdir(parents=True, exist_ok=True)
    state = Path(state) if state else None
    if state is not None:
        seeded = seed_from_state(state, out, resume)
        if seeded and progress:
            print(f"{seeded} files of the run's state copied from {state}", flush=True)
    book = StageBook(out, settings, progress, state)
    book.save(hardware=hardware())
    cohort, document = data_stages(book, out, settings, nprocs, progress)
    counter = iter(range(6, settings["total_stages"] + 1))
    results = {}
    for model in models:
        per_fold = _model_stages(
            book, out, settings, model, fold_lists[model], document, nprocs, progress, counter
        )
        results[model] = per_fold
        _publish(out, model, per_fold, board, cards, settings)
        paths = build(board)  # after each model: a run stopped later leaves a whole page
    checksums = {r[0]["scores"]["test"]["data_checksum"] for r in results.values()}
    book.save(
        data={
            "cohort_checksum": cohort,
            "splits_checksum": document["checksum"],
            "test_data_checksum": checksums.pop() if len(checksums) == 1 else None,
        },
        outputs={
            "leaderboard": str(paths["html"]),
            "cards": {m: str(cards / m / "README.md") for m in models},
        },
        total_seconds=round(sum(s["seconds"] for s in book.record["stages"].values()), 1),
    )
    return book.record
