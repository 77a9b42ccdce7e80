"""``scvbench morph``: morphometry tables from vein-mask NIfTI files and derivative datasets.

Single mask: every labelled axial slice (or the ones asked for) of a vein mask, one row per
vessel, spacing from the NIfTI affine. Dataset: the vein masks of a derivative dataset (reference
annotations or a submission), hemispheres from ``derivatives/scvbench``; per participant
``sub-<label>/anat/sub-<label>_acq-swi_desc-scv_morph.tsv`` and a group table
``acq-swi_desc-scv_morph.tsv`` with one row per participant and hemisphere.

Which slice the group table summarises: the study measured one MinIP slice per participant, so by
default it is the measured slice nearest to the participant's analysis slice (from the MinIP
sidecar); with ``all_slices`` the vessels of every measured slice are pooled and the count is the
mean count per slice.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.bids.spec import sidecar as bids_sidecar
from scvbench.core.morphometry import HEMISPHERES, measure_slices, summarize
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError

__all__ = [
    "GROUP_FILE",
    "MORPH_COLUMNS",
    "load_mask",
    "morph_dataset",
    "morph_file",
    "morph_participant",
    "write_table",
]

log = logging.getLogger(__name__)

#: Leading columns of every per-vessel table scvbench writes.
MORPH_COLUMNS = [
    "slice",
    "hemisphere",
    "vessel",
    "length_mm",
    "chord_mm",
    "tortuosity",
    "diameter_mm",
    "diameter_dt_mm",
    "area_mm2",
]
GROUP_FILE = "acq-swi_desc-scv_morph.tsv"
_MASK = re.compile(
    r"^sub-(?P<label>[A-Za-z0-9]+)_acq-swi_label-vein(?:_desc-(?P<desc>[A-Za-z0-9]+))?_mask\.nii(\.gz)?$"
)


def _load(path: Path, what: str):
    if Path(path).is_file():
        io.header_shape(path)  # before any data is read: a header may claim gigabytes
    try:
        image = nib.load(str(path))
        data = np.asanyarray(image.dataobj)
    except FileNotFoundError:
        raise ScvbenchError(f"{path}: no such file") from None
    except Exception as err:
        raise ScvbenchError(f"{path}: cannot read this NIfTI {what} ({err})") from None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim != 3:
        raise ScvbenchError(
            f"{path}: a {what} must be 2-D or 3-D (one axial slice per index of the last axis), "
            f"got shape {data.shape}"
        )
    return data, image.affine


def load_mask(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A binary vein mask and its affine; a non-binary image is an error naming the file.

    Parameters
    ----------
    path : path
        A vein-mask NIfTI.

    Returns
    -------
    tuple of ndarray
        The boolean mask (RAS+ voxel order) and its affine.
    """
    data, affine = _load(Path(path), "vein mask")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise ScvbenchError(f"{path}: the mask contains NaN or infinite values")
    values = np.unique(data)
    if not set(values.tolist()) <= {0, 1}:
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (" ..." if len(values) > 6 else "")
        raise ScvbenchError(
            f"{path}: not a binary mask (values {shown}); write 0 for background and 1 for vein "
            "(threshold a probability map first)"
        )
    return data.astype(bool), affine


def _spacing(affine: np.ndarray) -> tuple[float, float]:
    zooms = np.linalg.norm(np.asarray(affine)[:3, :3], axis=0)
    return float(zooms[0]), float(zooms[1])


def _tidy(table: pd.DataFrame) -> pd.DataFrame:
    rest = [c for c in table.columns if c not in MORPH_COLUMNS]
    return table[MORPH_COLUMNS + rest]


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Write a morphometry table as BIDS TSV (``n/a`` for missing values), atomically.

    Parameters
    ----------
    path : Path
        The ``.tsv`` to write.
    table : DataFrame
        A morphometry table.

    Returns
    -------
    None
        The file is written atomically.
    """
    io.write_text(path, table.to_csv(sep="\t", index=False, na_rep="n/a", float_format="%.6g"))


def morph_file(
    mask_path: str | Path,
    hemi_path: str | Path | None = None,
    slices: list[int] | None = None,
    min_area_mm2: float = DEFAULTS.min_area_mm2,
) -> pd.DataFrame:
    """Measure a vein-mask NIfTI; without ``hemi_path`` every vessel is in hemisphere ``both``.

    Parameters
    ----------
    mask_path : path
        A binary vein-mask NIfTI.
    hemi_path : path, optional
        Hemisphere labels on the same grid.
    slices : list of int, optional
        The slices to measure (default: the labelled ones).
    min_area_mm2 : float
        Components smaller than this are specks.

    Returns
    -------
    DataFrame
        One row per vessel.
    """
    mask, affine = load_mask(mask_path)
    hemispheres = None
    if hemi_path is not None:
        hemispheres, hemi_affine = _load(Path(hemi_path), "hemisphere image")
        if hemispheres.shape != mask.shape or not np.allclose(hemi_affine, affine, atol=1e-3):
            raise ScvbenchError(
                f"{hemi_path}: hemispheres on another grid ({hemispheres.shape}) than "
                f"{mask_path} ({mask.shape}); both must be on the MinIP grid"
            )
        if not set(np.unique(hemispheres).tolist()) <= {0, *HEMISPHERES}:
            raise ScvbenchError(f"{hemi_path}: hemisphere labels must be 0, 1 (left), 2 (right)")
    if slices is not None:
        bad = [k for k in slices if not 0 <= k < mask.shape[2]]
        if bad:
            raise ScvbenchError(f"{mask_path}: slices {bad} outside 0..{mask.shape[2] - 1}")
    table = measure_slices(mask, _spacing(affine), hemispheres, slices, min_area_mm2)
    return _tidy(table)


def _find_masks(masks_dir: Path, desc: str | None) -> dict[str, Path]:
    found: dict[str | None, dict[str, Path]] = {}
    for path in sorted(masks_dir.glob("sub-*/anat/*_mask.nii*")):
        match = _MASK.match(path.name)
        if match:
            found.setdefault(match["desc"], {})[match["label"]] = path
    if not found:
        raise ScvbenchError(
            f"{masks_dir}: no vein masks ({DERIVATIVES['vein_mask'].filename('<label>')})"
        )
    if desc is not None:
        if desc not in found:
            raise ScvbenchError(
                f"{masks_dir}: no masks with desc-{desc}; present: "
                + ", ".join(sorted(str(d) for d in found))
            )
        return found[desc]
    if len(found) > 1:
        kinds = ", ".join(f"desc-{d}" if d else "(no desc)" for d in sorted(found, key=str))
        raise ScvbenchError(
            f"{masks_dir}: masks of several kinds ({kinds}); choose one with --desc"
        )
    return next(iter(found.values()))


def _measured_slices(path: Path, mask: np.ndarray) -> list[int]:
    sidecar = bids_sidecar(path)
    if sidecar.is_file():
        try:
            listed = json.loads(sidecar.read_text()).get("LabelledSlices")
        except ValueError:
            listed = None
        if listed:
            return sorted(int(k) for k in listed)
    return [int(k) for k in np.flatnonzero(mask.any(axis=(0, 1)))]


def morph_participant(
    label: str,
    mask_path: Path,
    deriv: Path,
    out_dir: Path,
    all_slices: bool = False,
    min_area_mm2: float = DEFAULTS.min_area_mm2,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Measure one participant's vein mask; write its per-vessel table into ``out_dir``.

    Returns the per-vessel table and the per-hemisphere summary (the group table's rows).
    ``deriv`` is the ``scvbench`` derivative dataset with the hemispheres and MinIP sidecar.

    Parameters
    ----------
    label : str
        The participant label.
    mask_path : Path
        Its vein mask.
    deriv : Path
        The ``scvbench`` derivative dataset (hemispheres, MinIP sidecar).
    out_dir : Path
        Where the per-vessel table goes.
    all_slices : bool
        Summarise every measured slice (default: the one nearest the analysis slice).
    min_area_mm2 : float
        Components smaller than this are specks.

    Returns
    -------
    vessels : DataFrame
        One row per vessel.
    summary : DataFrame
        One row per hemisphere, the rows of the group table.
    """
    hemi_path = deriv / DERIVATIVES["hemispheres"].relpath(label)
    sidecar_path = deriv / DERIVATIVES["minip"].relpath(label, ".json")
    if not hemi_path.is_file() or not sidecar_path.is_file():
        raise ScvbenchError(f"sub-{label}: no hemispheres in {deriv}; run scvbench derive first")
    mask, _ = load_mask(mask_path)
    slices = _measured_slices(mask_path, mask)
    vessels = morph_file(mask_path, hemi_path, slices, min_area_mm2)
    write_table(Path(out_dir) / DERIVATIVES["morphometry"].relpath(label), vessels)
    analysis = int(json.loads(sidecar_path.read_text())["AnalysisSlice"])
    if not slices:
        used, part = [], vessels
    elif all_slices:
        used, part = slices, vessels
    else:
        nearest = min(slices, key=lambda k: (abs(k - analysis), k))
        used, part = [nearest], vessels[vessels["slice"] == nearest]
    summary = summarize(part)
    if len(used) > 1:
        summary["count"] = summary["count"] / len(used)
    summary.insert(0, "participant_id", f"sub-{label}")
    summary.insert(2, "slices", " ".join(map(str, used)) or "n/a")
    return vessels, summary


def morph_dataset(
    bids_dir: str | Path,
    masks_dir: str | Path,
    out_dir: str | Path | None = None,
    desc: str | None = None,
    all_slices: bool = False,
    min_area_mm2: float = DEFAULTS.min_area_mm2,
    derivatives: str | Path | None = None,
) -> pd.DataFrame:
    """Measure every participant's vein mask in ``masks_dir``; return the group table.

    Writes ``OUT_DIR/sub-<label>/anat/sub-<label>_acq-swi_desc-scv_morph.tsv`` (per vessel, every
    measured slice) and ``OUT_DIR/acq-swi_desc-scv_morph.tsv`` (per participant and hemisphere);
    ``out_dir`` defaults to ``masks_dir``; hemispheres come from the ``scvbench`` derivatives in
    ``derivatives`` (default ``BIDS_DIR/derivatives``).

    Parameters
    ----------
    bids_dir : path
        The derived dataset.
    masks_dir : path
        A derivative dataset of vein masks (annotations or a submission).
    out_dir : path, optional
        Where the tables go (default: ``masks_dir``).
    desc : str, optional
        Which masks, when there are several (a rater).
    all_slices : bool
        Pool every measured slice in the group table.
    min_area_mm2 : float
        Components smaller than this are specks.
    derivatives : path, optional
        Where the ``scvbench`` derivatives are.

    Returns
    -------
    DataFrame
        The group table: one row per participant and hemisphere.
    """
    bids_dir, masks_dir = Path(bids_dir), Path(masks_dir)
    out_dir = Path(out_dir) if out_dir is not None else masks_dir
    masks = _find_masks(masks_dir, desc)
    deriv = layout.derivative_dir(bids_dir, "scvbench", derivatives)
    groups = []

    for label, path in tqdm(sorted(masks.items()), desc="morph", unit="participant", disable=None):
        _, summary = morph_participant(label, path, deriv, out_dir, all_slices, min_area_mm2)
        groups.append(summary)
    group = pd.concat(groups, ignore_index=True)
    write_table(out_dir / GROUP_FILE, group)
    return group
