"""A benchmark run's portable state: what another machine needs to continue the run.

A paper-scale run is tens of gigabytes of data and hours of CPU training, and a cluster's scratch
space or a cloud machine may be gone before it ends. Its **state** is the small part of ``OUT``:
the run record, the stage stamps, each fold's training record (``config.json``,
``summary.json``, ``log.csv``) and every evaluation folder. It leaves out what can be made
again: the cohort and the dataset (regenerated from the stamped generator, preset and seed, and
checked against the stamped checksums), the checkpoints and ONNX exports, the submission
masks, and the HTML reports and worst-slice tiles of the evaluations nothing publishes (the
association cohort's, the cross-validation folds'). With ``--state DIR`` the benchmark mirrors
the state into ``DIR`` after every stage, and a new ``OUT`` is seeded from it; a finished fold
is then never trained again, only its data are regenerated when a later stage needs them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from scvbench import io
from scvbench.errors import ScvbenchError

__all__ = [
    "RECORD",
    "TRAINING_FILES",
    "forget_missing",
    "portable_files",
    "save_state",
    "seed_from_state",
]

#: The run record, in OUT.
RECORD = "benchmark.json"

#: The files of a training folder that describe the run (not its checkpoints).
TRAINING_FILES = ("config.json", "summary.json", "log.csv")


def _portable(relative: Path) -> bool:
    parts = relative.parts
    if parts == (RECORD,) or (len(parts) == 2 and parts[0] == "stages"):
        return relative.suffix == ".json"
    if len(parts) < 3 or parts[0] != "runs" or "submission" in parts:
        return False
    if any(part.startswith("evaluation-") for part in parts[2:-1]):
        # An evaluation folder: its scores and pairs; the HTML report and the worst slices'
        # tiles only of fold 0's test split (the model card's report and the gallery's tiles).
        shown = parts[2] == "evaluation-test"
        return shown or (parts[-1] != "report.html" and "worst" not in parts)
    return len(parts) == 4 and parts[2].startswith("fold-") and parts[3] in TRAINING_FILES


def portable_files(root: Path) -> list[Path]:
    """The state files under ``root`` (a benchmark folder or a state copy), relative, sorted.

    Parameters
    ----------
    root : Path
        The folder.

    Returns
    -------
    list of Path
        Relative paths of the run record, the stamps, the training records and evaluations.
    """
    if not root.is_dir():
        return []
    files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
    return sorted(p for p in files if _portable(p))


def save_state(out: Path, state: Path) -> int:
    """Mirror the state of ``out`` into ``state``; files no longer in ``out`` are removed.

    Stamps are the exception: a stamp ``out`` no longer has (its stage runs again) stays in
    ``state`` until the stage is stamped again.

    Parameters
    ----------
    out : Path
        The benchmark folder.
    state : Path
        The state copy (created).

    Returns
    -------
    int
        The number of files written (changed or new).
    """
    keep = set(portable_files(out))
    written = 0
    for relative in sorted(keep):
        data = (out / relative).read_bytes()
        target = state / relative
        if not target.is_file() or target.read_bytes() != data:
            io.write_bytes(target, data)
            written += 1
    for relative in sorted(p.relative_to(state) for p in state.rglob("*") if p.is_file()):
        # A stamp stays until its stage is stamped again: a data stage made again elsewhere
        # must still be checked against it when that fails half-way.
        if relative not in keep and relative.parts[0] != "stages":
            (state / relative).unlink()
    for folder in sorted((p for p in state.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return written


def seed_from_state(state: Path, out: Path, resume: bool) -> int:
    """Copy the state files that ``out`` lacks from ``state``; return how many.

    Parameters
    ----------
    state : Path
        A state copy written by :func:`save_state`.
    out : Path
        The benchmark folder.
    resume : bool
        Whether the run is continued (a state holding a run needs it).

    Returns
    -------
    int
        The number of files copied.
    """
    if not (state / RECORD).is_file():
        if state.exists() and (not state.is_dir() or any(state.iterdir())):
            raise ScvbenchError(
                f"{state}: not a benchmark state ({RECORD} is missing); choose an empty or new "
                "folder for --state"
            )
        return 0
    if not resume:
        raise ScvbenchError(
            f"{state} holds the state of a benchmark run: pass --resume to continue it, or "
            "choose another --state folder"
        )
    copied = 0
    for relative in portable_files(state):
        if not (out / relative).exists():
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(state / relative, out / relative)
            copied += 1
    return copied


def forget_missing(
    book, trained: str, predicted: str, scored: list[str], run: Path, submission: Path
) -> None:
    """Forget the stamps of a fold's stages whose outputs an unfinished later stage needs.

    A fold whose evaluations are all stamped needs nothing. Otherwise its masks must be there
    (else ``predicted`` runs again), and to predict, its checkpoint (else ``trained`` runs
    again, from the start, and the fold's evaluations with it).

    Parameters
    ----------
    book : StageBook
        The run's stamps.
    trained, predicted : str
        The fold's training and prediction stages.
    scored : list of str
        The fold's evaluation stages.
    run : Path
        The fold's training folder.
    submission : Path
        The fold's submission folder.

    Returns
    -------
    None
    """
    if all(book.stamped(name) for name in scored):
        return
    if book.stamped(predicted) and not submission.is_dir():
        book.forget(predicted, f"its masks ({submission}) are not in this folder")
    checkpoint = run / "model_best.pt"
    if book.stamped(predicted) or not book.stamped(trained) or checkpoint.is_file():
        return
    book.forget(trained, f"its checkpoint ({checkpoint}) is not in this folder")
    for name in scored:
        book.forget(name, "its model is trained again")
    for name in TRAINING_FILES:
        (run / name).unlink(missing_ok=True)
