"""Render a picture of a synthetic subject: SWI slice, 20 mm MinIP, and MinIP with true veins.

Usage: ``python -m scvbench.steps.synth.preview SYNTH_DIR OUT.png [--patient ID | --sites N]``.

With ``--sites N`` it draws the README's figure instead: rows are subjects from N sites of a
``--sites multisite`` cohort (the first association subject of each, or the first subject);
columns are the 1 mm SWI slice at the centre of the analysis slab, the 20 mm MinIP, the MinIP with
the true superficial veins outlined, and a close-up of the largest labelled vein tree with a
tributary. The picture is
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
from scvbench.steps.synth.sites import DEFAULT_SITES, SITES

# matplotlib is imported inside the functions that use it: heavy, and not needed by the commands
# that only import this module.

__all__ = ["load_series", "main", "render_preview", "render_sites_figure", "series_folder"]


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


def _start(synth_dir: Path):
    """Matplotlib's pyplot (drawing off-screen) and the cohort's manifest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, json.loads((synth_dir / "truth" / "manifest.json").read_text())


def render_preview(synth_dir: Path, out_png: Path, patient: str | None = None) -> Path:
    """Write the three-panel PNG for one subject.

    By default the subject is the first association subject, of the study's site when the cohort
    has one.

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
    plt, manifest = _start(synth_dir)
    subjects = manifest["subjects"]
    if patient is None:
        # the first association subject, of the study's own site when the cohort has it
        ranked = sorted(
            subjects,
            key=lambda s: (
                s["role"] != "association",
                s.get("site", DEFAULT_SITES[0]) != DEFAULT_SITES[0],
            ),
        )
        chosen = ranked[0]
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
        f"SWI, {round(dz, 2):g} mm slice",
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


def _pick(subjects: list[dict], count: int) -> list[dict]:
    """The first association subject (else the first subject) of each site, ``count`` sites."""
    chosen: dict[str, dict] = {}
    for role in ("association", "development"):
        for subject in subjects:
            site = subject.get("site", "")
            if subject["role"] == role and site not in chosen:
                chosen[site] = subject
    return list(chosen.values())[:count]


def _slice_of(subject: dict) -> int:
    m = subject["analysis_minip_slice"]
    if m is None:
        m = subject["annotated_minip_slices"][len(subject["annotated_minip_slices"]) // 2]
    return int(m)


def _crop_box(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    rows, cols = np.nonzero(mask)
    return (
        slice(max(rows.min() - margin, 0), rows.max() + margin + 1),
        slice(max(cols.min() - margin, 0), cols.max() + margin + 1),
    )


def render_sites_figure(synth_dir: Path, out_png: Path, sites: int = 3) -> Path:
    """Write the figure (one row per site, four panels each).

    Parameters
    ----------
    synth_dir : Path
        A cohort of ``scvbench synth``, best with ``--sites multisite``.
    out_png : Path
        The picture to write.
    sites : int
        How many sites (rows) to show.

    Returns
    -------
    Path
        ``out_png``.
    """
    plt, manifest = _start(synth_dir)
    picked = _pick(manifest["subjects"], sites)
    fig, axes = plt.subplots(len(picked), 4, figsize=(15, 3.9 * len(picked)), dpi=90)
    axes = np.atleast_2d(axes)
    for row, subject in zip(axes, picked, strict=True):
        pid, m = subject["patient_id"], _slice_of(subject)
        geometry = json.loads((synth_dir / "truth" / pid / "geometry.json").read_text())
        col_mm, row_mm = geometry["swi_grid"]["spacing_mm"][:2]
        aspect = row_mm / col_mm
        swi, dz = load_series(series_folder(synth_dir / "dicom" / subject["dicom_folder"], "swi"))
        window = slab_window(manifest["minip"]["slab_mm"], manifest["minip"]["step_mm"], dz)
        minip = minimum_intensity_projection(swi, window)[:, :, m]
        single = swi[:, :, int(window.centre(m))]
        labels = np.asarray(nib.load(synth_dir / "truth" / pid / "minip_veins.nii.gz").dataobj)
        truth = labels[::-1, ::-1, m].T
        brain = np.asarray(nib.load(synth_dir / "truth" / pid / "minip_brain_mask.nii.gz").dataobj)[
            ::-1, ::-1, m
        ].T
        box = _crop_box(brain > 0, 6)
        lo, hi = np.percentile(minip[brain > 0], [0.5, 99.5])
        site = SITES.get(subject.get("site", ""))
        vendor = {"siemens": "Siemens", "ge": "GE", "philips": "Philips"}.get(site.vendor, "")
        model = site.model if any(c.isdigit() for c in site.model) else site.model.title()
        name = f"{vendor} {model}, {site.field_t:g} T" if site else "site"
        for ax, image in zip(row[:3], (single, minip, minip), strict=True):
            ax.imshow(image[box], cmap="gray", vmin=lo, vmax=hi, aspect=aspect)
            ax.axis("off")
        row[2].contour(truth[box] > 0, levels=[0.5], colors="#ff5a1f", linewidths=0.8)
        row[0].set_title(f"{name}: SWI, {round(dz, 2):g} mm slice", fontsize=9)
        row[1].set_title(f"MinIP, {manifest['minip']['slab_mm']:g} mm", fontsize=9)
        row[2].set_title("MinIP + labelled superficial veins", fontsize=9)
        ids, sizes = np.unique(truth[truth > 0], return_counts=True)
        branched = {
            v["label"]
            for v in geometry["veins"]
            if v["kind"] == "scv" and any(n["kind"] == "junction" for n in v["tree"]["nodes"])
        }
        # the largest tree with a tributary in this image, else the largest vein
        order = [i for i in np.argsort(sizes)[::-1] if int(ids[i]) in branched] or [
            int(np.argmax(sizes))
        ] * bool(ids.size)
        if order:
            tree = truth == ids[order[0]]
            near = _crop_box(tree, round(8.0 / col_mm))
            row[3].imshow(minip[near], cmap="gray", vmin=lo, vmax=hi, aspect=aspect)
            row[3].contour(tree[near], levels=[0.5], colors="#ff5a1f", linewidths=1.0)
            row[3].set_title("close-up: one vein tree (outlined)", fontsize=9)
        row[3].axis("off")
    fig.suptitle(
        "Synthetic SWI (scvbench synth --sites multisite): radiological display, anterior up",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
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
    if args.sites is not None and args.sites < 1:
        parser.error(f"--sites must be 1 or more, got {args.sites}")
    if args.sites:
        render_sites_figure(args.synth_dir, args.out_png, args.sites)
    else:
        render_preview(args.synth_dir, args.out_png, args.patient)
    return 0


if __name__ == "__main__":
    sys.exit(main())
