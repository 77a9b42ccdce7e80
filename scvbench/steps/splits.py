"""``scvbench splits``: the fixed, subject-level 6:2:2 split of the development participants.

The study split augmented images, so one subject's slices could sit in training and test at
once. scvbench splits participants: 20 % are held out for test; the other 80 % form 4 folds,
each with 60 % of the whole for training and 20 % for validation, so every fold is 6:2:2.
Assignment is stratified by sex and DWML (Fazekas deep white-matter score >= 1): participants are
sorted into strata, shuffled within each with the seed, and dealt in turn to five equal parts
(part 0 = test, part k = fold k's validation set).

Who is split: the participants with reference vein masks (``derivatives/annotations``, one rater)
that are not in the association cohort. The association cohort (the participants whose
morphometry is compared with Fazekas ratings, segmented by the trained model) is never trained
on: it is the ``cohort`` column of ``participants.tsv`` when there is one (``development`` /
``association``), otherwise the participants whose reference labels one slice only (their
analysis slice; development participants have several labelled slices, as in the study and as
``scvbench synth`` annotates them).

The file (``code/scvbench/splits.json`` in the BIDS dataset by default) holds nnU-Net's
``splits_final.json`` list as ``folds`` plus ``test`` and ``association``, the seed, and a
SHA-256 ``checksum`` of its assignment, which evaluation and the leaderboard record.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from scvbench import io
from scvbench.bids.spec import parse, sidecar
from scvbench.errors import ScvbenchError

__all__ = [
    "N_FOLDS",
    "SPLITS_FILE",
    "assignment_checksum",
    "labelled_slices",
    "load_splits",
    "make_splits",
    "reference_masks",
    "write_splits",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
#: Where the split file goes, relative to the BIDS dataset.
SPLITS_FILE = Path("code") / "scvbench" / "splits.json"
N_FOLDS = 4
_PARTS = N_FOLDS + 1  # test + one validation part per fold


def reference_masks(bids_dir: str | Path, rater: str | None = None) -> tuple[str, dict[str, Path]]:
    """The reference vein masks of ``derivatives/annotations``: (rater, {label: path}).

    ``rater`` defaults to the first rater (``desc``) in alphabetical order.

    Parameters
    ----------
    bids_dir : path
        The derived dataset.
    rater : str, optional
        Whose masks.

    Returns
    -------
    tuple
        (rater, {participant label: mask path}).
    """
    root = Path(bids_dir) / "derivatives" / "annotations"
    found: dict[str, dict[str, Path]] = {}
    for path in sorted(root.glob("sub-*/anat/sub-*_acq-swi_label-vein_desc-*_mask.nii.gz")):
        try:
            name = parse(path)
        except ValueError as err:
            raise ScvbenchError(f"{err}; rename or remove it") from None
        found.setdefault(name.get("desc"), {})[name.subject] = path
    if not found:
        raise ScvbenchError(
            f"{root}: no reference vein masks (sub-*/anat/*_label-vein_desc-<rater>_mask.nii.gz); "
            "run `scvbench annotations import` first"
        )
    if rater is None:
        rater = sorted(found)[0]
    if rater not in found:
        raise ScvbenchError(
            f"{root}: no masks of rater {rater!r}; found {', '.join(sorted(found))}"
        )
    return rater, found[rater]


def labelled_slices(mask: Path) -> list[int]:
    """The ``LabelledSlices`` of a vein mask's sidecar, sorted; one error naming the sidecar.

    Parameters
    ----------
    mask : Path
        A vein mask.

    Returns
    -------
    list of int
        The slices that carry labels.
    """
    sidecar_path = sidecar(mask)
    try:
        return sorted(int(k) for k in json.loads(sidecar_path.read_text())["LabelledSlices"])
    except (OSError, KeyError, ValueError, TypeError) as err:
        raise ScvbenchError(f"{sidecar_path}: cannot read LabelledSlices ({err})") from None


def _table(bids_dir: Path, labels: list[str]) -> pd.DataFrame:
    """participant_id, sex, dwml (NaN when unrated) and cohort (when given) of ``labels``."""
    participants_tsv = bids_dir / "participants.tsv"
    try:
        people = pd.read_csv(participants_tsv, sep="\t", dtype=str, na_values="n/a")
    except OSError as err:
        raise ScvbenchError(f"{participants_tsv}: cannot read ({err})") from None
    if "participant_id" not in people or "sex" not in people:
        raise ScvbenchError(f"{participants_tsv}: needs the columns participant_id and sex")
    people = people.set_index("participant_id")
    phenotype = bids_dir / "phenotype" / "fazekas.tsv"
    dwml = pd.Series(np.nan, index=people.index)
    if phenotype.exists():
        ratings = pd.read_csv(phenotype, sep="\t", na_values="n/a").set_index("participant_id")
        if "fazekas_dwm" not in ratings:
            raise ScvbenchError(f"{phenotype}: needs the column fazekas_dwm")
        dwml = (ratings["fazekas_dwm"] >= 1).astype(float).where(ratings["fazekas_dwm"].notna())
    rows = []
    for label in labels:
        pid = f"sub-{label}"
        if pid not in people.index:
            raise ScvbenchError(f"{participants_tsv}: {pid} has reference masks but no row")
        rows.append(
            {
                "participant_id": pid,
                "sex": people.at[pid, "sex"] if pd.notna(people.at[pid, "sex"]) else "n/a",
                "dwml": dwml.get(pid, np.nan),
                "cohort": people.at[pid, "cohort"] if "cohort" in people else None,
            }
        )
    return pd.DataFrame(rows)


def assignment_checksum(splits: dict) -> str:
    """SHA-256 of the assignment (test, folds, association) in a canonical JSON form.

    Parameters
    ----------
    splits : dict
        A split document.

    Returns
    -------
    str
        Hex SHA-256.
    """
    core = {
        "test": sorted(splits["test"]),
        "folds": [{"train": sorted(f["train"]), "val": sorted(f["val"])} for f in splits["folds"]],
        "association": sorted(splits["association"]),
    }
    return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()


def site_of(bids_dir: Path, participant: str) -> str:
    """The scanner of a participant's SWI: ``<Manufacturer> <model> <field>T`` from its sidecar.

    Parameters
    ----------
    bids_dir : Path
        The dataset.
    participant : str
        ``sub-<label>``.

    Returns
    -------
    str
        For example ``GE DISCOVERY MR750 3T``; ``unknown`` when no sidecar says.
    """
    for name in ("acq-swi_rec-swi_T2starw", "acq-swi_part-mag_T2starw"):
        path = bids_dir / participant / "anat" / f"{participant}_{name}.json"
        if path.is_file():
            try:
                meta = json.loads(path.read_text())
            except (OSError, ValueError):
                continue
            field = meta.get("MagneticFieldStrength")
            parts = [meta.get("Manufacturer"), meta.get("ManufacturersModelName")]
            parts.append(f"{float(field):g}T" if field is not None else None)
            return " ".join(str(p) for p in parts if p) or "unknown"
    return "unknown"


def make_splits(
    bids_dir: str | Path, seed: int = 0, rater: str | None = None, test_site: str | None = None
) -> dict:
    """Assign the development participants to test and 4 folds; see the module docstring.

    With ``test_site`` the test set is every development participant scanned there (a held-out
    site, for generalisation) and the other sites' participants make the 4 folds.

    Parameters
    ----------
    bids_dir : path
        The derived dataset.
    seed : int
        Seed of the assignment.
    rater : str, optional
        Whose reference masks define the development participants.
    test_site : str, optional
        A scanner as :func:`site_of` names it, held out as the test set.

    Returns
    -------
    dict
        ``seed``, ``reference`` (the rater), ``stratified_by``, ``test``, ``folds`` (train and
        val lists), ``association``, ``test_site`` and ``sites`` (with ``test_site``) and
        ``checksum``.
    """
    bids_dir = Path(bids_dir)
    rater, masks = reference_masks(bids_dir, rater)
    table = _table(bids_dir, sorted(masks))
    if table["cohort"].notna().any():
        cohort = table["cohort"].str.lower()
        bad = sorted(set(cohort.dropna()) - {"development", "association"})
        if bad:
            raise ScvbenchError(
                f"{bids_dir / 'participants.tsv'}: cohort must be development or association, "
                f"got {', '.join(bad)}"
            )
        association = cohort == "association"
        rule = "participants.tsv cohort column"
    else:
        flags = [len(labelled_slices(masks[label])) == 1 for label in sorted(masks)]
        association = pd.Series(flags, index=table.index)
        rule = "reference labels one slice only"
    development = table[~association.to_numpy()].reset_index(drop=True)
    if len(development) < _PARTS:
        raise ScvbenchError(
            f"{bids_dir}: {len(development)} development participant(s) with reference masks; "
            f"a 6:2:2 split with {N_FOLDS} folds needs at least {_PARTS}"
        )
    held_out: list[str] | None = None
    sites: dict[str, str] = {}
    if test_site is not None:
        sites = {pid: site_of(bids_dir, pid) for pid in development["participant_id"]}
        held_out = sorted(pid for pid, site in sites.items() if site == test_site)
        if not held_out:
            raise ScvbenchError(
                f"--test-site {test_site!r}: no development participant was scanned there; "
                f"the sites are {', '.join(sorted(set(sites.values())))}"
            )
        development = development[~development["participant_id"].isin(held_out)]
        development = development.reset_index(drop=True)
        if len(development) < N_FOLDS:
            raise ScvbenchError(
                f"--test-site {test_site!r}: {len(development)} participant(s) of the other sites "
                f"are left; {N_FOLDS} folds need at least {N_FOLDS}"
            )
    rng = np.random.default_rng(seed)
    strata = development["sex"].astype(str) + "/" + development["dwml"].astype(str)
    order = []
    for name in sorted(strata.unique()):
        members = development.index[strata == name].to_numpy()
        order.extend(members[rng.permutation(len(members))].tolist())
    n_parts = _PARTS if held_out is None else N_FOLDS
    parts: list[list[str]] = [[] for _ in range(n_parts)]
    start = int(rng.integers(n_parts))
    for i, index in enumerate(order):
        parts[(start + i) % n_parts].append(development.at[index, "participant_id"])
    parts = [sorted(p) for p in parts]
    if held_out is not None:  # the held-out site is the test set; the folds share the rest
        parts = [held_out, *parts]
    folds = []
    for k in range(N_FOLDS):
        train = sorted(p for j in range(1, _PARTS) if j != k + 1 for p in parts[j])
        folds.append({"train": train, "val": parts[k + 1]})
    splits = {
        "schema_version": SCHEMA_VERSION,
        "seed": int(seed),
        "reference": {"dataset": "annotations", "rater": rater},
        "stratified_by": ["sex", "dwml"],
        "association_rule": rule,
        "test": parts[0],
        "folds": folds,
        "association": sorted(table.loc[association.to_numpy(), "participant_id"]),
    }
    if test_site is not None:
        splits["test_site"] = test_site
        splits["sites"] = dict(sorted(sites.items()))
    splits["checksum"] = assignment_checksum(splits)
    _check(splits, "new split")
    return splits


def _check(splits: dict, where: str) -> None:
    """Every set disjoint from the others; each fold covers the development set."""
    test, association = set(splits["test"]), set(splits["association"])
    if test & association:
        raise ScvbenchError(f"{where}: {sorted(test & association)} in test and association")
    development = None
    for k, fold in enumerate(splits["folds"]):
        train, val = set(fold["train"]), set(fold["val"])
        overlap = (train & val) | ((train | val) & (test | association))
        if overlap:
            raise ScvbenchError(f"{where}: fold {k}: {sorted(overlap)} in two sets")
        if development is None:
            development = train | val
        elif development != train | val:
            raise ScvbenchError(f"{where}: fold {k} does not cover the same participants")


def write_splits(
    bids_dir: str | Path,
    out: str | Path | None = None,
    seed: int = 0,
    rater: str | None = None,
    force: bool = False,
    test_site: str | None = None,
) -> tuple[Path, dict]:
    """Write the split file; an existing different split is kept unless ``force``.

    Parameters
    ----------
    bids_dir : path
        The derived dataset.
    out : path, optional
        The split file (default: ``BIDS_DIR/code/scvbench/splits.json``).
    seed : int
        Seed of the assignment.
    rater : str, optional
        Whose reference masks define the development participants.
    force : bool
        Replace a different existing split.
    test_site : str, optional
        Hold out this scanner's participants as the test set.

    Returns
    -------
    tuple
        (the file, the split).
    """
    splits = make_splits(bids_dir, seed, rater, test_site)
    path = Path(out) if out is not None else Path(bids_dir) / SPLITS_FILE
    if path.exists() and not force:
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("checksum") != splits["checksum"]:
            raise ScvbenchError(
                f"{path}: a different split is already there (checksum "
                f"{str(old.get('checksum'))[:12]}); splits are fixed: keep it, or pass --force "
                "to replace it (results scored on the old split are no longer comparable)"
            )
    io.write_json(path, splits)
    return path, splits


def load_splits(path: str | Path) -> dict:
    """Read a split file and check its checksum and that no participant is in two sets.

    Parameters
    ----------
    path : path
        A split file.

    Returns
    -------
    dict
        The split.
    """
    path = Path(path)
    try:
        splits = json.loads(path.read_text())
    except FileNotFoundError:
        raise ScvbenchError(f"{path}: no split file; run `scvbench splits BIDS_DIR`") from None
    except (OSError, ValueError) as err:
        raise ScvbenchError(f"{path}: cannot read the split file ({err})") from None
    for key in ("test", "folds", "association", "checksum"):
        if key not in splits:
            raise ScvbenchError(f"{path}: not a scvbench split file (no {key!r})")
    if assignment_checksum(splits) != splits["checksum"]:
        raise ScvbenchError(
            f"{path}: the assignment does not match its checksum (edited by hand?); "
            "regenerate it with `scvbench splits`"
        )
    _check(splits, str(path))
    return splits
