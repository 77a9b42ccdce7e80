"""Labelme round trip: PNG exports of MinIP slices and import of the outlines as vein masks.

Display convention (the PNG a rater sees, and Labelme's image coordinates): rows run from
anterior to posterior and columns from the patient's right to left (radiological view), that is
``image = minip[::-1, ::-1, m].T`` for a MinIP in RAS+ voxel order. Labelme points are
``[x, y] = [column, row]`` with the centre of pixel ``(row, col)`` at ``(col, row)``. A polygon
labels the pixels whose centres lie inside it; a line strip labels the pixels whose centres lie
within half its width of the line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.keys import read_key
from scvbench.bids.spec import DERIVATIVES, EXPORT_NAME, LABELME_DIR
from scvbench.core.display import from_display
from scvbench.core.rasterize import rasterize_shapes
from scvbench.errors import ScvbenchError
from scvbench.report.qc import write_participant_report

__all__ = ["ImportReport", "import_annotations", "parse_name", "read_labelme"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(?P<who>.+?)_minip-(?P<slice>\d+)$")


def parse_name(stem: str) -> tuple[str, int] | None:
    """``(who, slice)`` from a name like ``sub-001_minip-012`` or ``P0223674_minip-012``.

    Parameters
    ----------
    stem : str
        A file name without its extension.

    Returns
    -------
    tuple of (str, int) or None
        Who (``sub-<label>`` or a PatientID) and the MinIP slice, or None for another name.

    Examples
    --------
    >>> parse_name("sub-001_minip-012")
    ('sub-001', 12)
    >>> parse_name("notes") is None
    True
    """
    match = _NAME.match(stem)
    if match is None:
        return None
    return match["who"], int(match["slice"])


def read_labelme(path: Path) -> dict:
    """Load a Labelme JSON document, or raise one clear error naming the file.

    Parameters
    ----------
    path : Path
        A Labelme ``.json`` file.

    Returns
    -------
    dict
        The document (with its ``shapes`` list).
    """
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ScvbenchError(f"{path}: not a readable Labelme JSON file ({err})") from None
    if not isinstance(document, dict) or not isinstance(document.get("shapes"), list):
        raise ScvbenchError(f"{path}: not a Labelme file (no 'shapes' list)")
    return document


_RATER = re.compile(r"^[A-Za-z0-9]+$")


@dataclass(frozen=True)
class _Item:
    path: Path
    label: str
    slice: int
    rater: str
    mask: np.ndarray  # display orientation


@dataclass
class ImportReport:
    """What an import wrote: masks by ``(participant label, rater)``, and skipped shapes."""

    written: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    slices: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    skipped_shapes: list[str] = field(default_factory=list)


def _identify(path: Path, document: dict, key: dict[str, str], rater: str | None, root: Path):
    """Participant label, MinIP slice and rater of one Labelme file."""
    extra = document.get("scvbench") if isinstance(document.get("scvbench"), dict) else {}
    parsed = parse_name(path.stem) or parse_name(Path(str(document.get("imagePath", ""))).stem)
    who = extra.get("participant_id") or extra.get("patient_id") or (parsed[0] if parsed else None)
    slice_ = extra.get("minip_slice", parsed[1] if parsed else None)
    if who is None or slice_ is None:
        raise ScvbenchError(
            f"{path}: cannot tell the participant and MinIP slice; name the file like the PNG "
            "export it outlines (sub-<label>_minip-<slice>.json)"
        )
    who = str(who)
    if who.startswith("sub-"):
        label = who.removeprefix("sub-")
    elif who in key:
        label = key[who]
    else:
        hint = (
            "give --key-file (written by scvbench convert)"
            if not key
            else "it is not in the key file"
        )
        raise ScvbenchError(f"{path}: {who!r} is not a BIDS participant label; {hint}")
    name = rater or extra.get("rater")
    if name is None and path.parent != root:
        name = path.parent.name
    if not name:
        raise ScvbenchError(f"{path}: no rater named in the file; give --rater NAME")
    name = str(name)
    if not _RATER.match(name):
        raise ScvbenchError(
            f"{path}: rater {name!r} must be letters and digits only (it becomes a BIDS desc "
            "label); give --rater NAME"
        )
    try:
        slice_ = int(slice_)
    except (TypeError, ValueError):
        raise ScvbenchError(f"{path}: MinIP slice {slice_!r} is not a whole number") from None
    return label, slice_, name, extra


def import_annotations(
    labelme_dir: str | Path,
    bids_dir: str | Path,
    rater: str | None = None,
    key_file: str | Path | None = None,
    labels: tuple[str, ...] = ("vein",),
    line_width: float | None = None,
) -> ImportReport:
    """Rasterise Labelme outlines into vein masks on the MinIP grid (``derivatives/annotations``).

    Every ``*.json`` under ``labelme_dir`` is one rater's outlines of one MinIP slice. Files are
    matched to participants and slices by their ``scvbench`` block or their name
    (``sub-<label>_minip-<slice>``, or ``<PatientID>_minip-<slice>`` with ``key_file``). All files
    are checked before anything is written: a file whose image size, slice or slab does not match
    the participant's MinIP is an error naming it. Writes
    ``sub-<label>/anat/sub-<label>_acq-swi_label-vein_desc-<rater>_mask.nii.gz`` (0 outside the
    labelled slices) and a sidecar listing the labelled slices and the rater; unchanged masks are
    not rewritten.

    Parameters
    ----------
    labelme_dir : path
        Folder of Labelme files, any nesting.
    bids_dir : path
        The dataset derived with ``scvbench derive``.
    rater : str, optional
        Rater name for every file (default: each file's ``scvbench`` block or its folder).
    key_file : path, optional
        PatientID-to-label key, for files named by PatientID.
    labels : tuple of str
        Labelme labels that mark veins.
    line_width : float, optional
        Width in pixels of line shapes.

    Returns
    -------
    ImportReport
        Per participant and rater the slices imported, the masks written or unchanged, and the
        shapes skipped.
    """
    labelme_dir, bids_dir = Path(labelme_dir), Path(bids_dir)
    if not labelme_dir.is_dir():
        raise ScvbenchError(f"{labelme_dir}: no such folder of Labelme files")
    if rater is not None and not _RATER.match(rater):
        raise ScvbenchError(f"--rater {rater!r}: use letters and digits only")
    files = sorted(labelme_dir.rglob("*.json"))
    if not files:
        raise ScvbenchError(f"{labelme_dir}: no Labelme .json files found")
    deriv = layout.derivative_dir(bids_dir, "scvbench")

    key = read_key(key_file) if key_file else {}
    grids: dict[str, tuple[tuple[int, ...], np.ndarray, dict]] = {}
    report = ImportReport()
    items: list[_Item] = []
    problems: list[str] = []
    for path in files:
        try:
            document = read_labelme(path)
            label, m, name, extra = _identify(path, document, key, rater, labelme_dir)
            if label not in grids:
                sidecar_path = deriv / DERIVATIVES["minip"].relpath(label, ".json")
                image_path = deriv / DERIVATIVES["minip"].relpath(label)
                if not sidecar_path.is_file() or not image_path.is_file():
                    raise ScvbenchError(
                        f"{path}: sub-{label} has no MinIP in {deriv}; run scvbench derive first"
                    )
                image = nib.load(image_path)
                grids[label] = (image.shape[:3], image.affine, json.loads(sidecar_path.read_text()))
            shape, _, sidecar = grids[label]
            display = (shape[1], shape[0])
            size = (document.get("imageHeight"), document.get("imageWidth"))
            if size != display:
                raise ScvbenchError(
                    f"{path}: image is {size[0]}x{size[1]} (height x width) but the MinIP of "
                    f"sub-{label} displays as {display[0]}x{display[1]}; outline the PNG "
                    "exported by scvbench derive"
                )
            if not 0 <= m < shape[2]:
                raise ScvbenchError(
                    f"{path}: MinIP slice {m} does not exist (sub-{label} has slices "
                    f"0-{shape[2] - 1})"
                )
            for key_name, ours in (("slab_mm", "SlabThicknessMM"), ("step_mm", "SlabStepMM")):
                if key_name in extra and abs(float(extra[key_name]) - float(sidecar[ours])) > 1e-6:
                    raise ScvbenchError(
                        f"{path}: outlined on a MinIP with {key_name.replace('_mm', '')} "
                        f"{extra[key_name]:g} mm but sub-{label} was derived with "
                        f"{sidecar[ours]:g} mm; derive with the same slab or re-outline"
                    )
            result = rasterize_shapes(document["shapes"], display, labels, line_width, str(path))
            report.skipped_shapes += [f"{path}: {s}" for s in result.skipped]
            items.append(_Item(path, label, m, name, result.mask))
        except (ScvbenchError, ValueError) as err:
            problems.append(str(err))
    seen: dict[tuple[str, str, int], Path] = {}
    for item in items:
        where = (item.label, item.rater, item.slice)
        if where in seen:
            problems.append(
                f"{item.path}: slice {item.slice} of sub-{item.label} by {item.rater} is also "
                f"in {seen[where]}; keep one file per slice and rater"
            )
        seen[where] = item.path
    if problems:
        more = f" (and {len(problems) - 10} more problem(s))" if len(problems) > 10 else ""
        raise ScvbenchError("\n".join(problems[:10]) + more)

    out_root = layout.derivative_dir(bids_dir, "annotations")
    layout.write_dataset_description(
        out_root,
        "scvbench reference annotations: superficial cerebral vein masks",
        "Labelme outlines rasterised onto the MinIP grid (scvbench annotations import)",
        {"raw": "../../", "scvbench": "../scvbench/"},
    )
    groups: dict[tuple[str, str], list[_Item]] = {}
    for item in items:
        groups.setdefault((item.label, item.rater), []).append(item)
    for (label, name), group in sorted(groups.items()):
        shape, affine, _ = grids[label]
        volume = np.zeros(shape, np.uint8)
        for item in group:
            volume[:, :, item.slice] = from_display(item.mask)
        slices = sorted(item.slice for item in group)
        image_path = out_root / DERIVATIVES["vein_mask"].relpath(label, desc=name)
        sidecar = {
            "Type": "ROI",
            "Description": "Superficial cerebral veins outlined in Labelme on MinIP slices",
            "Sources": [layout.bids_uri(DERIVATIVES["minip"].relpath(label), "scvbench")],
            "Rater": name,
            "LabelledSlices": slices,
            "Labels": list(labels),
            "LineWidthPixels": line_width,
            # By slice, the exported image outlined and the SHA-256 of the Labelme file: never
            # the file's own name, which may carry a PatientID.
            "LabelmeSources": [
                {
                    "Slice": item.slice,
                    "Image": layout.bids_uri(
                        f"{LABELME_DIR}/{EXPORT_NAME.format(label=label, slice=item.slice)}",
                        "scvbench",
                    ),
                    "SHA256": hashlib.sha256(item.path.read_bytes()).hexdigest(),
                }
                for item in sorted(group, key=lambda item: item.slice)
            ],
        }
        text = io.dumps_json(sidecar)
        sidecar_path = out_root / DERIVATIVES["vein_mask"].relpath(label, ".json", desc=name)
        same = (
            image_path.is_file()
            and sidecar_path.is_file()
            and sidecar_path.read_text() == text
            and np.array_equal(np.asanyarray(nib.load(image_path).dataobj), volume)
        )
        if same:
            report.unchanged.append((label, name))
        else:
            io.save_nifti(image_path, volume, affine)
            io.write_text(sidecar_path, text)
            report.written.append((label, name))
        report.slices[(label, name)] = slices
    if report.written:
        for label in sorted({label for label, _ in report.written}):
            write_participant_report(bids_dir, label)
    return report
