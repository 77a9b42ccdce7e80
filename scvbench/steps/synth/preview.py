"""Render a picture of a synthetic subject: SWI slice, 20 mm MinIP, and MinIP with true veins.

Usage: ``python -m scvbench.steps.synth.preview SYNTH_DIR OUT.png [--patient ID | --sites N]``
(``--sites``: the README's multi-site figure, :mod:`scvbench.steps.synth.figure`). The picture is
made from the DICOM files exactly as a user receives them, so it shows what the pipeline will see.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pydicom

from scvbench.core.mip import minimum_intensity_projection, slab_window
from scvbench.steps.convert.series import classify, find_series

# matplotlib (and the figure module) are imported inside the functions that use them: heavy, and
# not needed by the commands that only import this module.

__all__ = ["load_series", "main", "render_preview", "series_folder"]


def load_series(folder: Path) -> tuple[np.ndarray, float]:
    """Stack a DICOM series into (rows, columns, slices) ordered along the slice normal.

    Parameters
    ----------
    folder : Path
        A DICOM series folder.

    Returns
    -------
    tuple
        (volume, slice spacing in mm).
    """
    slices = [pydicom.dcmread(p) for p in sorted(folder.iterdir()) if p.is_file()]
    iop = np.asarray(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda ds: float(np.dot(normal, np.asarray(ds.ImagePositionPatient, float))))
    volume = np.stack([ds.pixel_array.astype(np.float32) for ds in slices], axis=2)
    return volume, float(slices[0].SpacingBetweenSlices)


def series_folder(patient_dir: Path, kind: str) -> Path:
    """The series ``convert`` would take as ``kind`` (any vendor's naming).

    Parameters
    ----------
    patient_dir : Path
        A patient's DICOM folder.
    kind : str
        ``swi``, ``mag``, ``phase`` or ``flair``.

    Returns
    -------
    Path
        The series' folder.
    """
    series, _ = find_series(patient_dir)
    for found in series:
        if classify(found).kind == kind:
            return found.files[0].parent
    raise FileNotFoundError(f"no {kind} series under {patient_dir}")


def render_preview(synth_dir: Path, out_png: Path, patient: str | None = None) -> Path:
    """Write the three-panel PNG for one subject (the first association subject by default).

    Parameters
    ----------
    synth_dir : Path
        A cohort of ``scvbench synth``.
    out_png : Path
        The picture to write.
    patient : str, optional
        The PatientID.

    Returns
    -------
    Path
        ``out_png``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    manifest = json.loads((synth_dir / "truth" / "manifest.json").read_text())
    subjects = manifest["subjects"]
    if patient is None:
        chosen = next((s for s in subjects if s["role"] == "association"), subjects[0])
    else:
        chosen = next(s for s in subjects if s["patient_id"] == patient)
    pid = chosen["patient_id"]
    m = chosen["analysis_minip_slice"]
    if m is None:
        m = chosen["annotated_minip_slices"][len(chosen["annotated_minip_slices"]) // 2]
    patient_dir = synth_dir / "dicom" / chosen["dicom_folder"]
    swi, dz = load_series(series_folder(patient_dir, "swi"))
    window = slab_window(manifest["minip"]["slab_mm"], manifest["minip"]["step_mm"], dz)
    minip = minimum_intensity_projection(swi, window)[:, :, m]
    centre = swi[:, :, int(window.centre(m))]
    labels = np.asarray(nib.load(synth_dir / "truth" / pid / "minip_veins.nii.gz").dataobj)
    truth = labels[::-1, ::-1, m].T
    lo, hi = np.percentile(minip[minip > 0], [1, 99.5])
    spacing = manifest["preset_spec"]["swi_pixel_mm"]
    aspect = spacing[0] / spacing[1]  # rows are anterior-posterior, columns right-left
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 5.2), dpi=110)
    titles = [
        "SWI, 1 mm slice",
        f"MinIP, {manifest['minip']['slab_mm']:g} mm slab",
        "MinIP + true superficial veins",
    ]
    for ax, image, title in zip(axes, [centre, minip, minip], titles, strict=True):
        ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest", aspect=aspect)
        ax.set_title(title)
        ax.axis("off")
    overlay = np.ma.masked_where(truth == 0, truth)
    axes[2].imshow(overlay, cmap="autumn", alpha=0.75, interpolation="nearest", aspect=aspect)
    fig.suptitle(
        f"Synthetic subject {pid} ({chosen['role']}), MinIP slice {m}; "
        "display: radiological, anterior up",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)
    plt.close(fig)
    return out_png


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Parameters
    ----------
    argv : list of str, optional
        ``SYNTH_DIR OUT.png [--patient ID | --sites N]``.

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="python -m scvbench.steps.synth.preview", description=__doc__.splitlines()[0]
    )
    parser.add_argument("synth_dir", type=Path)
    parser.add_argument("out_png", type=Path)
    parser.add_argument("--patient")
    parser.add_argument(
        "--sites", type=int, help="one row per site, N sites, with a vein-tree close-up"
    )
    args = parser.parse_args(argv)
    if args.sites:
        from scvbench.steps.synth.figure import render_sites_figure

        render_sites_figure(args.synth_dir, args.out_png, args.sites)
    else:
        render_preview(args.synth_dir, args.out_png, args.patient)
    return 0


if __name__ == "__main__":
    sys.exit(main())
