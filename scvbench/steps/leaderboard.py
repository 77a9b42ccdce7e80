"""``scvbench leaderboard``: entries with provenance, rank-then-aggregate with bootstrap ranks.

An **entry** (``leaderboard/entries/<name>.json``) is one evaluated submission: the model's
name, configuration (recipe, fold, seed) and version of scvbench, the code reference (the git
commit that added it; the same entry added again keeps it), the data set's identity and the
checksums of the reference masks and the split file, the hardware and training time (from the
training run's ``summary.json``), the scores of ``results.json`` and the per-case scores of
``cases.tsv`` (for the bootstrap). ``leaderboard.json`` holds the checksums every entry must
share: the first entry sets them; an entry scored on other reference data, another split, or
not on the ``test`` split is refused.

**Ranking** (rank then aggregate): for each metric of :data:`RANK_METRICS` the entries are
ranked (1 = best, ties share the mean rank) and the final order is by the mean of those ranks.
Case metrics are the mean over the test slices; ``morphometry_icc`` is the mean ICC(A,1) over
measures and hemispheres and ``reproduction`` the association reproduction score (missing
values rank last). **Rank stability**: the test cases are resampled with replacement 1,000 times
(seed 0), all entries on the same resample, and the whole ranking is redone: each entry's
probability of rank 1 and its 95 % rank interval. Neighbours in the final order are compared
with a two-sided Wilcoxon signed-rank test on the per-case Dice. The second rater, scored as a
submission against the first, is shown as the human reference (not ranked).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from scvbench import __version__, io
from scvbench.core.association import association_summary
from scvbench.core.ranking import RANK_METRICS, rank
from scvbench.errors import ScvbenchError
from scvbench.report import leaderboard as pages
from scvbench.results import EvaluationResult
from scvbench.steps.evaluate import WORST
from scvbench.steps.power import participants_for_power, tortuosity_pairs

__all__ = ["RANK_METRICS", "add_entry", "build", "load_entries", "rank"]

SCHEMA_VERSION = "1.0"
CASE_COLUMNS = ["participant_id", "slice", "dice", "cldice", "hd95_mm", "betti0_error"]
#: The association columns of the table (the study: Z -3.511, odds ratio 7.649).
ASSOCIATION_COLUMNS = ("tortuosity_right_z", "odds_ratio", "reproduction_published")
#: Worst test slices shown per entry on the page.
GALLERY_TILES = 3


def _code_reference() -> str:
    git = ["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"]
    try:
        out = subprocess.run(git, capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"scvbench=={__version__}"


def _morphometry_icc(result: EvaluationResult) -> float | None:
    values = [
        a.icc_a1
        for measures in result.morphometry.values()
        for a in measures.values()
        if a.icc_a1 is not None
    ]
    return float(np.mean(values)) if values else None


def _load_results(path: Path) -> EvaluationResult:
    try:
        document = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ScvbenchError(f"{path}: no such results file") from None
    except (OSError, ValueError) as err:
        raise ScvbenchError(f"{path}: not a results.json ({err})") from None
    if (
        not isinstance(document, dict)
        or "segmentation" not in document
        or "reference" not in document
    ):
        raise ScvbenchError(f"{path}: not a results.json of scvbench evaluate")
    try:
        return EvaluationResult.from_json(document)
    except (KeyError, TypeError, ValueError) as err:
        raise ScvbenchError(f"{path}: not a results.json of this scvbench ({err})") from None


def make_entry(
    results_path: Path,
    name: str | None = None,
    run_dir: Path | None = None,
    association_path: Path | None = None,
) -> dict:
    """An entry from ``results.json`` (with ``cases.tsv`` beside it) and its training run.

    ``association_path``: the same submission's results on the ``association`` split (with
    the same split file), whose association reproduction score the entry then carries; the
    test split is usually too small for the study's group tests.

    Parameters
    ----------
    results_path : Path
        ``results.json`` of ``scvbench evaluate --split test``.
    name : str, optional
        The entry's name (default: the model the submission names).
    run_dir : Path, optional
        The training run (its ``summary.json``: time and hardware).
    association_path : Path, optional
        ``results.json`` of the same submission on the association split.

    Returns
    -------
    dict
        The entry document.
    """
    results_path = Path(results_path)
    result = _load_results(results_path)
    reference = result.reference
    if reference.split != "test":
        raise ScvbenchError(
            f"{results_path}: scored on the {reference.split!r} split; the leaderboard "
            "takes test-split results only (scvbench evaluate --split test)"
        )
    cases_path = results_path.with_name("cases.tsv")
    try:
        cases = pd.read_csv(cases_path, sep="\t")
    except OSError:
        raise ScvbenchError(f"{cases_path}: missing; keep cases.tsv beside results.json") from None
    configuration = result.submission.configuration or {}
    training = {}
    if run_dir is not None:
        summary = Path(run_dir) / "summary.json"
        if not summary.is_file():
            raise ScvbenchError(f"{summary}: missing; give the training run's folder")
        training = json.loads(summary.read_text())
    name = name or result.model
    if not name:
        raise ScvbenchError(f"{results_path}: the submission names no model; give --name")
    association = result.association
    association_split = "test"
    if association_path is not None:
        other = _load_results(Path(association_path))
        if other.reference.split != "association":
            raise ScvbenchError(f"{association_path}: not scored on the association split")
        if other.reference.splits_checksum != reference.splits_checksum:
            raise ScvbenchError(f"{association_path}: scored with another split file")
        if other.model != result.model:
            raise ScvbenchError(f"{association_path}: results of another model")
        association, association_split = other.association, "association"
    # The power column: the association cohort's error (as evaluate --power), else the test's.
    pairs = tortuosity_pairs(Path(association_path).parent) if association_path else {}
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "model": result.model,
        "configuration": configuration,
        "scvbench_version": __version__,
        "code": _code_reference(),
        "dataset": dict(reference.dataset),
        "data_checksum": reference.data_checksum,
        "splits_checksum": reference.splits_checksum,
        "training": training,
        "scores": {
            "segmentation": result.segmentation.to_json()["overall"],
            "morphometry_icc": _morphometry_icc(result),
            "reproduction": association.get("reference", {}).get("reproduction_score"),
            "reproduction_split": association_split,
            "association": association_summary(association),
            "n_invalid": result.segmentation.n_invalid,
        },
        "human_reference": result.human_reference,
        "worst": [
            {"participant_id": pid, "slice": int(k), "dice": float(d)}
            for pid, k, d in cases.sort_values("dice", kind="stable")[
                ["participant_id", "slice", "dice"]
            ].itertuples(index=False)
        ][:GALLERY_TILES],
        "morphometry": result.to_json()["morphometry"],
        "power_pairs": pairs if pairs.get("model") else tortuosity_pairs(results_path.parent),
        "cases": cases[CASE_COLUMNS].to_dict(orient="list"),
    }


def add_entry(
    results_path: str | Path,
    board: str | Path = "leaderboard",
    name: str | None = None,
    run_dir: str | Path | None = None,
    replace: bool = False,
    association_path: str | Path | None = None,
    card: str | Path | None = None,
    report: str | Path | None = None,
) -> Path:
    """Check an entry against the leaderboard's checksums and write it.

    The worst test slices' tiles that ``scvbench evaluate`` wrote beside ``results_path``
    (``worst/``) are copied to ``board/gallery/<entry>/`` for the page.

    Parameters
    ----------
    results_path : path
        ``results.json`` of the test split.
    board : path
        The leaderboard folder.
    name : str, optional
        The entry's name.
    run_dir : path, optional
        The training run.
    replace : bool
        Replace an entry of the same name.
    association_path : path, optional
        ``results.json`` of the association split.
    card, report : path or str, optional
        The model card and the evaluation report the page links (a URL, or a local file linked
        relative to the board).

    Returns
    -------
    Path
        The entry file written.
    """
    board = Path(board)
    results_path = Path(results_path)
    entry = make_entry(results_path, name, run_dir, association_path)
    entry["links"] = {
        label: _link(target, board) for label, target in (("card", card), ("report", report))
    }
    settings_path = board / "leaderboard.json"
    if settings_path.is_file():
        settings = json.loads(settings_path.read_text())
        for key in ("data_checksum", "splits_checksum"):
            if entry[key] != settings[key]:
                raise ScvbenchError(
                    f"{results_path}: {key} {str(entry[key])[:12]} differs from the "
                    f"leaderboard's {str(settings[key])[:12]}: scored on other reference data or "
                    "another split; evaluate on the leaderboard's data set and split file"
                )
    else:
        io.write_json(
            settings_path,
            {
                "schema_version": SCHEMA_VERSION,
                "data_checksum": entry["data_checksum"],
                "splits_checksum": entry["splits_checksum"],
                "dataset": entry["dataset"],
            },
        )
    path = board / "entries" / f"{pages.slug(entry['name'])}.json"
    if path.exists() and not replace:
        raise ScvbenchError(f"{path}: an entry of that name exists; --replace to update it")
    gallery = board / "gallery" / pages.slug(entry["name"])
    tiles = []
    for case in entry["worst"]:
        source = results_path.parent / WORST / f"{case['participant_id']}_slice-{case['slice']}.png"
        if source.is_file():
            tiles.append((source, gallery / source.name))
            case["tile"] = (gallery / source.name).relative_to(board).as_posix()
    for stale in gallery.glob("*.png"):
        if stale not in {target for _, target in tiles}:
            stale.unlink()
    for source, target in tiles:
        io.write_bytes(target, source.read_bytes())
    if path.exists():  # the same entry added again keeps the code that entered it first
        old = json.loads(path.read_text())
        if io.dumps_json({**old, "code": entry["code"]}) == io.dumps_json(entry):
            entry["code"] = old["code"]
    io.write_json(path, entry)
    return path


def _link(target: str | Path | None, board: Path) -> str | None:
    """A link from the board's page: URLs as given, local paths relative to the board."""
    if target is None:
        return None
    text = str(target)
    if "://" in text:
        return text
    if not Path(text).exists():
        raise ScvbenchError(f"{text}: no such file to link from the leaderboard; check the path")
    return Path(os.path.relpath(Path(text).resolve(), board.resolve())).as_posix()


def load_entries(board: str | Path = "leaderboard") -> list[dict]:
    """Every entry of the leaderboard, by name.

    Parameters
    ----------
    board : path
        The leaderboard folder.

    Returns
    -------
    list of dict
        The entries, sorted by file name.
    """
    entries = []
    for path in sorted((Path(board) / "entries").glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except (ValueError, RecursionError) as err:
            raise ScvbenchError(f"{path}: not valid JSON ({err})") from None
        _check_entry(entry, path)
        entries.append(entry)
    return entries


def _check_entry(entry, path: Path) -> None:
    """Refuse an entry without a name or per-case scores (what ranking needs)."""
    cases = entry.get("cases") if isinstance(entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise ScvbenchError(
            f"{path}: not a leaderboard entry (no name); re-add it with scvbench leaderboard add"
        )
    if not isinstance(cases, dict) or any(not isinstance(cases.get(c), list) for c in CASE_COLUMNS):
        raise ScvbenchError(
            f"{path}: the entry has no per-case scores (cases with {', '.join(CASE_COLUMNS)}); "
            "re-add it with scvbench leaderboard add RESULTS_JSON"
        )
    if len({len(cases[c]) for c in CASE_COLUMNS}) != 1:
        raise ScvbenchError(f"{path}: its cases columns differ in length; re-add the entry")


def _pairs(entry: dict, name: str) -> list | None:
    return (entry.get("power_pairs") or {}).get(name)


def build(board: str | Path = "leaderboard") -> dict[str, Path]:
    """Render ``README.md``, ``leaderboard.csv`` and ``index.html`` from the entries.

    Parameters
    ----------
    board : path
        The leaderboard folder.

    Returns
    -------
    dict
        ``readme``, ``csv`` and ``html``: the files written.
    """
    board = Path(board)
    entries = load_entries(board)
    if not entries:
        raise ScvbenchError(
            f"{board / 'entries'}: no entries; add one with scvbench leaderboard add"
        )
    table = rank(entries)
    by_name = {e["name"]: e for e in entries}
    human = pages.human_row(entries)
    if human:
        agreement = human.pop("tortuosity_right")
        pairs = next((e["power_pairs"]["human"] for e in entries if _pairs(e, "human")), None)
        needed = participants_for_power(agreement, pairs, stream=2) if agreement or pairs else None
        human["participants_80"] = needed
    columns = [
        "rank",
        "tier",
        "name",
        *[m for m, _, _ in RANK_METRICS],
        "p_rank1",
        "rank_interval",
        "wilcoxon_p_next",
        *ASSOCIATION_COLUMNS,
        "participants_80",
        "recipe",
        "train_seconds",
    ]
    rows = []
    for _, row in table.iterrows():
        entry = by_name[row["name"]]
        association = entry["scores"].get("association") or {}
        tortuosity = (entry.get("morphometry") or {}).get("right", {}).get("tortuosity") or {}
        rows.append(
            {
                **{c: row[c] for c in ("rank", "tier", "name")},
                **{m: row[m] for m, _, _ in RANK_METRICS},
                "p_rank1": row["p_rank1"],
                "rank_interval": f"{int(row['rank_low'])}-{int(row['rank_high'])}",
                "wilcoxon_p_next": row["wilcoxon_p_next"],
                **{c: association.get(c) for c in ASSOCIATION_COLUMNS},
                "participants_80": participants_for_power(tortuosity, _pairs(entry, "model")),
                "recipe": entry.get("configuration", {}).get("recipe"),
                "train_seconds": entry.get("training", {}).get("train_seconds"),
            }
        )
    frame = pd.DataFrame(rows, columns=columns)
    io.write_text(board / "leaderboard.csv", frame.to_csv(index=False, float_format="%.6g"))
    settings = json.loads((board / "leaderboard.json").read_text())
    settings["participants_80_error_free"] = participants_for_power(None)
    settings["reference_effect"] = pages.reference_effect(entries)
    io.write_text(board / "README.md", pages.render_readme(rows, human, settings))
    io.write_text(board / "index.html", pages.render_page(rows, human, entries, settings))
    return {
        "readme": board / "README.md",
        "csv": board / "leaderboard.csv",
        "html": board / "index.html",
    }
