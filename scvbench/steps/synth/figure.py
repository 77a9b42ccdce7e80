"""The README figure: one subject per scanner site, and a close-up of a vein tree.

Usage: ``python -m scvbench.steps.synth.preview SYNTH_DIR OUT.png --sites N``. Rows are subjects
from different sites of a ``--sites multisite`` cohort (the first association subject of each, or
the first subject); columns are the 1 mm SWI slice at the centre of the analysis slab, the 20 mm
MinIP, the MinIP with the true superficial veins outlined, and a close-up of the largest labelled
vein tree. Everything is read from the delivered DICOM files, as a user receives them.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np

from scvbench.core.mip import minimum_intensity_projection, slab_window
from scvbench.steps.synth.preview import load_series, series_folder
from scvbench.steps.synth.sites import SITES

# matplotlib is imported inside the functions that use it: heavy, and not needed to import this.

__all__ = ["render_sites_figure"]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    manifest = json.loads((synth_dir / "truth" / "manifest.json").read_text())
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
        row[0].set_title(f"{name}: SWI, 1 mm slice", fontsize=9)
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
