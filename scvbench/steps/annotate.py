"""Labelme round trip: PNG exports of MinIP slices and import of the outlines as vein masks.

Display convention (the PNG a rater sees, and Labelme's image coordinates): rows run from
anterior to posterior and columns from the patient's right to left (radiological view), that is
``image = minip[::-1, ::-1, m].T`` for a MinIP in RAS+ voxel order. Labelme points are
``[x, y] = [column, row]`` with the centre of pixel ``(row, col)`` at ``(col, row)``. Outlines
become pixels as Labelme itself rasterises them (polygon filled, outline painted), or by the
pixel-centre rule on request: see :mod:`scvbench.core.rasterize`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.keys import is_label, read_key
from scvbench.bids.spec import DERIVATIVES, EXPORT_NAME, LABELME_DIR
from scvbench.core.display import from_display
from scvbench.core.rasterize import rasterize_shapes
from scvbench.errors import ScvbenchError
from scvbench.report.qc import write_participant_report
from scvbench.steps.labelme import identify, parse_name, read_labelme

__all__ = ["RULE_TEXT", "ImportReport", "import_annotations", "parse_name", "read_labelme"]


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Item:
    path: Path
    label: str
    slice: int
    rater: str
    mask: np.ndarray  # display orientation


@dataclass
class ImportReport:
    """What an import wrote: masks by ``(participant label, rater)``, files imported and not."""

    written: list[tuple[str, str]] = field(default_factory=list)
    unchanged: list[tuple[str, str]] = field(default_factory=list)
    slices: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    skipped_shapes: list[str] = field(default_factory=list)
    imported: list[Path] = field(default_factory=list)
    refused: dict[Path, str] = field(default_factory=dict)


def _grid(deriv: Path, label: str, path: Path) -> tuple[tuple[int, ...], np.ndarray, dict]:
    sidecar_path = deriv / DERIVATIVES["minip"].relpath(label, ".json")
    image_path = deriv / DERIVATIVES["minip"].relpath(label)
    if not sidecar_path.is_file() or not image_path.is_file():
        raise ScvbenchError(
            f"{path}: sub-{label} has no MinIP in {deriv}; run scvbench derive first"
        )
    image = nib.load(image_path)
    return image.shape[:3], image.affine, json.loads(sidecar_path.read_text())


def _check_file(path: Path, document: dict, who, grid) -> None:
    """Refuse a file outlined on another image, slice or slab than the participant's MinIP."""
    shape, _, sidecar = grid
    display = (shape[1], shape[0])
    size = (document.get("imageHeight"), document.get("imageWidth"))
    if size != display:
        raise ScvbenchError(
            f"{path}: image is {size[0]}x{size[1]} (height x width) but the MinIP of "
            f"sub-{who.label} displays as {display[0]}x{display[1]}; outline the PNG "
            "exported by scvbench derive"
        )
    if not 0 <= who.slice < shape[2]:
        raise ScvbenchError(
            f"{path}: MinIP slice {who.slice} does not exist (sub-{who.label} has slices "
            f"0-{shape[2] - 1})"
        )
    for key_name, ours in (("slab_mm", "SlabThicknessMM"), ("step_mm", "SlabStepMM")):
        if key_name in who.extra and abs(float(who.extra[key_name]) - float(sidecar[ours])) > 1e-6:
            raise ScvbenchError(
                f"{path}: outlined on a MinIP with {key_name.replace('_mm', '')} "
                f"{who.extra[key_name]:g} mm but sub-{who.label} was derived with "
                f"{sidecar[ours]:g} mm; derive with the same slab or re-outline"
            )


def _read_items(files, labelme_dir, deriv, key, rater, labels, line_width, rule, report):
    """Every file rasterised, or refused with its reason in ``report.refused``."""
    grids: dict[str, tuple] = {}
    items: list[_Item] = []
    for path in files:
        try:
            document = read_labelme(path)
            who = identify(path, document, key, rater, labelme_dir)
            if who.label not in grids:
                grids[who.label] = _grid(deriv, who.label, path)
            _check_file(path, document, who, grids[who.label])
            shape = grids[who.label][0]
            result = rasterize_shapes(
                document["shapes"], (shape[1], shape[0]), labels, line_width, str(path), rule
            )
            flags = document.get("flags") if isinstance(document.get("flags"), dict) else {}
            if not result.mask.any() and not flags.get("no_vein"):
                found = sorted(
                    {str(s.get("label")) for s in document["shapes"] if isinstance(s, dict)}
                )
                raise ScvbenchError(
                    f"{path}: no vein outline in it ({len(document['shapes'])} shape(s), labels "
                    f"{found or 'none'}; vein labels are {', '.join(labels)}, any case); give "
                    "--label, or tick the file flag no_vein in Labelme if the slice has none"
                )
            report.skipped_shapes += [f"{path}: {s}" for s in result.skipped]
            items.append(_Item(path, who.label, who.slice, who.rater, result.mask))
        except (ScvbenchError, ValueError) as err:
            report.refused[path] = str(err)
    seen: dict[tuple[str, str, int], Path] = {}
    for item in list(items):
        where = (item.label, item.rater, item.slice)
        if where in seen:
            report.refused[item.path] = (
                f"{item.path}: slice {item.slice} of sub-{item.label} by {item.rater} is also "
                f"in {seen[where]}; keep one file per slice and rater"
            )
            items = [i for i in items if (i.label, i.rater, i.slice) != where]
        seen[where] = item.path
    return items, grids


def _source(item: _Item) -> dict:
    # By slice, the exported image outlined and the SHA-256 of the Labelme file: never the
    # file's own name, which may carry a PatientID.
    image = f"{LABELME_DIR}/{EXPORT_NAME.format(label=item.label, slice=item.slice)}"
    return {
        "Slice": item.slice,
        "Image": layout.bids_uri(image, "scvbench"),
        "SHA256": hashlib.sha256(item.path.read_bytes()).hexdigest(),
    }


def import_annotations(
    labelme_dir: str | Path,
    bids_dir: str | Path,
    rater: str | None = None,
    key_file: str | Path | None = None,
    labels: tuple[str, ...] = ("vein",),
    line_width: float | None = None,
    rule: str = "labelme",
    overwrite: bool = False,
) -> ImportReport:
    """Rasterise Labelme outlines into vein masks on the MinIP grid (``derivatives/annotations``).

    Every ``*.json`` under ``labelme_dir`` is one rater's outlines of one MinIP slice. Files are
    matched to participants and slices by their ``scvbench`` block, their name
    (``sub-<label>_minip-<slice>``, or ``<PatientID>_minip-<slice>`` with ``key_file``) and
    their ``imagePath``, which must agree. A file that does not fit (another image size, slice
    or slab, no vein outline, a point outside the image) is refused with its reason and the
    others are imported. Slices are merged into the rater's mask: a slice imported again is
    replaced, the others are kept (``overwrite`` replaces the whole mask by this import).
    Writes ``sub-<label>/anat/sub-<label>_acq-swi_label-vein_desc-<rater>_mask.nii.gz`` (0
    outside the labelled slices) and a sidecar with the slices, the rater, the rasterisation
    rule and the sources; unchanged masks are not rewritten.

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
        Labelme labels that mark veins (any case; ``vein 2``, ``vein_3`` match ``vein``).
    line_width : float, optional
        Width in pixels of line shapes that carry none.
    rule : str
        ``labelme`` (as Labelme rasterises, the default) or ``centre`` (pixel centres inside).
    overwrite : bool
        Replace each imported rater's mask instead of merging slices into it.

    Returns
    -------
    ImportReport
        Per participant and rater the slices in the mask, the masks written or unchanged, the
        files imported and refused (with reasons), and the shapes skipped.
    """
    labelme_dir, bids_dir = Path(labelme_dir), Path(bids_dir)
    if not labelme_dir.is_dir():
        raise ScvbenchError(f"{labelme_dir}: no such folder of Labelme files")
    if rater is not None and not is_label(rater):
        raise ScvbenchError(f"--rater {rater!r}: use letters and digits only")
    files = sorted(labelme_dir.rglob("*.json"))
    if not files:
        raise ScvbenchError(f"{labelme_dir}: no Labelme .json files found")
    deriv = layout.derivative_dir(bids_dir, "scvbench")
    key = read_key(key_file) if key_file else {}
    report = ImportReport()
    items, grids = _read_items(
        files, labelme_dir, deriv, key, rater, labels, line_width, rule, report
    )
    if not items:
        return report
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
        _write_mask(
            out_root, label, name, group, grids[label], labels, line_width, rule, overwrite, report
        )
        report.imported += [item.path for item in group]
    if report.written:
        for label in sorted({label for label, _ in report.written}):
            write_participant_report(bids_dir, label)
    return report


def _write_mask(out_root, label, name, group, grid, labels, line_width, rule, overwrite, report):
    """Merge ``group``'s slices into the rater's mask (or replace it) and write it if changed."""
    shape, affine, _ = grid
    image_path = out_root / DERIVATIVES["vein_mask"].relpath(label, desc=name)
    sidecar_path = out_root / DERIVATIVES["vein_mask"].relpath(label, ".json", desc=name)
    volume = np.zeros(shape, np.uint8)
    sources: dict[int, dict] = {}
    old_text = sidecar_path.read_text() if sidecar_path.is_file() else None
    if not overwrite and old_text is not None and image_path.is_file():
        old = json.loads(old_text)
        before = old.get("Rasterization", "centre")
        if before != rule:
            raise ScvbenchError(
                f"{sidecar_path}: its slices were rasterised with the {before} rule, this "
                f"import uses {rule}; import every slice again with --overwrite"
            )
        previous = np.asanyarray(nib.load(image_path).dataobj)
        if previous.shape == shape:
            volume[:] = previous
            sources = {int(s["Slice"]): s for s in old.get("LabelmeSources", [])}
    for item in group:
        volume[:, :, item.slice] = from_display(item.mask)
        sources[item.slice] = _source(item)
    slices = sorted(sources)
    sidecar = {
        "Type": "ROI",
        "Description": "Superficial cerebral veins outlined in Labelme on MinIP slices",
        "Sources": [layout.bids_uri(DERIVATIVES["minip"].relpath(label), "scvbench")],
        "Rater": name,
        "LabelledSlices": slices,
        "Labels": list(labels),
        "LineWidthPixels": line_width,
        "Rasterization": rule,
        "RasterizationDescription": RULE_TEXT[rule],
        "LabelmeSources": [sources[m] for m in slices],
    }
    text = io.dumps_json(sidecar)
    same = (
        image_path.is_file()
        and old_text == text
        and np.array_equal(np.asanyarray(nib.load(image_path).dataobj), volume)
    )
    if same:
        report.unchanged.append((label, name))
    else:
        io.save_nifti(image_path, volume, affine)
        io.write_text(sidecar_path, text)
        report.written.append((label, name))
    report.slices[(label, name)] = slices


#: How each rasterisation rule is described in the mask sidecar.
RULE_TEXT = {
    "labelme": "as Labelme (labelme.utils.shape_to_mask): polygon filled with its outline painted",
    "centre": "pixels whose centres lie inside the outline (line strips: within half the width)",
}
