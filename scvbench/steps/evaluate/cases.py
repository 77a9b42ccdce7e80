"""The cases of an evaluation: the reference slices of a split, and the submission's masks."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from scvbench.bids.layout import sha256
from scvbench.bids.spec import DERIVATIVES, sidecar
from scvbench.errors import ScvbenchError
from scvbench.io import open_nifti
from scvbench.steps.evaluate.submission import submission_root
from scvbench.steps.splits import SPLITS_FILE, labelled_slices, load_splits, reference_masks

SPLITS = ("test", "association", "all")


def split_cases(bids_dir: Path, split: str, splits_path: Path | None, rater: str | None):
    """(rater, split checksum, [(participant, reference mask, labelled slices)]) of a split.

    The reference rater defaults to the split file's (``all``: the first rater).

    Parameters
    ----------
    bids_dir : Path
        The derived dataset.
    split : str
        ``test``, ``association`` or ``all``.
    splits_path : Path, optional
        The split file (default: the dataset's).
    rater : str, optional
        The reference rater (default: the split file's).

    Returns
    -------
    tuple
        (rater, split checksum or None, [(participant_id, reference mask, labelled slices)]).
    """
    checksum = None
    if split == "all":
        rater, masks = reference_masks(bids_dir, rater)
        participants = [f"sub-{label}" for label in sorted(masks)]
    else:
        splits = load_splits(splits_path or bids_dir / SPLITS_FILE)
        rater, masks = reference_masks(bids_dir, rater or splits["reference"]["rater"])
        participants = splits[split]
        checksum = splits["checksum"]
    cases = []
    for pid in participants:
        path = masks.get(pid.removeprefix("sub-"))
        if path is None:
            raise ScvbenchError(f"{pid}: in the {split} split but has no reference mask of {rater}")
        cases.append((pid, path, labelled_slices(path)))
    return rater, checksum, cases


def _binary(data: np.ndarray) -> bool:
    """Whether every value is 0 or 1 (one pass for integers; ``np.unique`` sorts the volume)."""
    if data.dtype == bool:
        return True
    if data.dtype.kind in "iu":
        return data.size == 0 or (int(data.min()) >= 0 and int(data.max()) <= 1)
    return bool(((data == 0) | (data == 1)).all())


def load_prediction(root: Path, pid: str, grid, threshold: float, problems: list[str]):
    """The submission's 3-D mask of ``pid`` (bool) and the slices it predicted, or None.

    Parameters
    ----------
    root : Path
        The submission's root folder.
    pid : str
        ``sub-<label>``.
    grid : tuple
        (shape, affine) of the reference.
    threshold : float
        For a probseg without a mask.
    problems : list of str
        Appended with one line per problem found.

    Returns
    -------
    tuple
        (mask or None, predicted slices or None).
    """
    label = pid.removeprefix("sub-")
    mask_path = root / DERIVATIVES["vein_mask"].relpath(label)
    prob_path = root / DERIVATIVES["vein_probseg"].relpath(label)
    path = mask_path if mask_path.is_file() else prob_path if prob_path.is_file() else None
    if path is None:
        problems.append(f"{pid}: missing {mask_path.relative_to(root)} (and no probseg)")
        return None, None
    shape, affine = grid
    try:
        image = open_nifti(path, shape)  # the header checked first: it may claim gigabytes
    except ScvbenchError as err:
        problems.append(f"{pid}: {str(err).replace(str(path), path.name)}")
        return None, None
    except Exception as err:  # nibabel raises many kinds for damaged files
        problems.append(f"{pid}: {path.name} cannot be read ({type(err).__name__})")
        return None, None
    try:
        image = nib.as_closest_canonical(image)
        data = np.asanyarray(image.dataobj)
    except Exception as err:  # nibabel raises many kinds for damaged files
        problems.append(f"{pid}: {path.name} cannot be read ({type(err).__name__})")
        return None, None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    shape, affine = grid
    if data.shape != shape:
        problems.append(f"{pid}: {path.name} has shape {data.shape}, the MinIP has {shape}")
        return None, None
    if not np.allclose(image.affine, affine, atol=1e-3):
        problems.append(f"{pid}: {path.name} has another affine than the MinIP (wrong grid)")
        return None, None
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        problems.append(f"{pid}: {path.name} contains NaN or infinite values")
        return None, None
    if path == mask_path:
        if not _binary(data):
            values = np.unique(data)
            shown = ", ".join(f"{v:g}" for v in values[:5])
            problems.append(
                f"{pid}: {path.name} is not binary (values {shown}); write 0/1 or a probseg"
            )
            return None, None
        mask = data > 0
    else:
        if data.min() < 0 or data.max() > 1:
            problems.append(f"{pid}: {path.name} has probabilities outside 0..1")
            return None, None
        mask = data >= threshold
    predicted = None
    sidecar_path = sidecar(path)
    if sidecar_path.is_file():
        try:
            predicted = json.loads(sidecar_path.read_text()).get("PredictedSlices")
        except ValueError:
            problems.append(f"{pid}: {sidecar_path.name} is not valid JSON")
    return mask, (None if predicted is None else {int(k) for k in predicted})


def linked_dataset(submission: Path) -> Path:
    """The BIDS dataset a submission folder links as ``raw`` (how ``predict`` writes it).

    Parameters
    ----------
    submission : Path
        A submission folder.

    Returns
    -------
    Path
        The linked BIDS dataset.
    """
    description = root_description(submission)
    try:
        link = json.loads(description.read_text())["DatasetLinks"]["raw"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ScvbenchError(
            f"{submission}: no DatasetLinks raw in its dataset_description.json; give "
            "--reference BIDS_DIR"
        ) from None
    target = (description.parent / link).resolve() if "://" not in link else None
    if target is None or not (target / "dataset_description.json").is_file():
        raise ScvbenchError(
            f"{submission}: its raw link {link!r} is no BIDS dataset here; give --reference"
        )
    return target


def root_description(submission: Path) -> Path:
    """The ``dataset_description.json`` of a submission folder (an archive links no dataset).

    Parameters
    ----------
    submission : Path
        A submission folder.

    Returns
    -------
    Path
        Its ``dataset_description.json``.
    """
    if not submission.exists():
        raise ScvbenchError(f"{submission}: no such submission folder or archive")
    if not submission.is_dir():
        raise ScvbenchError(
            f"{submission}: an archive links no data set; give --reference BIDS_DIR"
        )

    return submission_root(submission) / "dataset_description.json"


def data_checksum(cases) -> str:
    """SHA-256 over the reference masks scored (participant, slices, file hash).

    Parameters
    ----------
    cases : list of tuple
        From :func:`split_cases`.

    Returns
    -------
    str
        Hex SHA-256.
    """
    digest = hashlib.sha256()
    for pid, path, slices in sorted(cases, key=lambda c: c[0]):
        digest.update(f"{pid}:{slices}:{sha256(path)}\n".encode())
    return digest.hexdigest()


def dataset_identity(bids_dir: Path) -> dict:
    """Name of the BIDS dataset and, for a synthetic cohort, its preset and seed.

    Parameters
    ----------
    bids_dir : Path
        The derived dataset.

    Returns
    -------
    dict
        ``name`` and, for a synthetic cohort, ``preset`` and ``seed``.
    """
    identity: dict = {"name": None, "preset": None, "seed": None}
    try:
        identity["name"] = json.loads((bids_dir / "dataset_description.json").read_text())["Name"]
    except (OSError, ValueError, KeyError):
        pass
    manifest = bids_dir.parent / "sourcedata" / "truth" / "manifest.json"
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        identity.update(preset=info.get("preset"), seed=info.get("seed"))
    return identity
