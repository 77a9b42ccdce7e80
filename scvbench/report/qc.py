"""Per-participant QC report, ``derivatives/scvbench/sourcedata/qc/sub-<label>.html``.

Like the reportlets of MRIQC and fMRIPrep: one self-contained HTML page (figures embedded as
PNG) showing the analysis slices of the MinIP with the brain mask (yellow), the hemisphere border
(cyan) and the vein outlines of every imported rater, plus a mosaic of the whole MinIP and the
settings that produced it. Images are shown as the raters see them: anterior up, patient right on
the left of the image.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.core.display import to_display
from scvbench.report.figures import png_bytes
from scvbench.report.pages import render

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["RATER_COLOURS", "draw_panel", "png_base64", "rater_masks", "write_participant_report"]

RATER_COLOURS = ("#ff4d4d", "#4dff88", "#ff9f1a", "#d24dff")


def rater_masks(bids_dir: Path, label: str) -> dict[str, Path]:
    """Imported vein masks of ``label`` by rater name (``derivatives/annotations``)."""
    root = layout.derivative_dir(bids_dir, "annotations")
    pattern = DERIVATIVES["vein_mask"].relpath(label, desc="*")
    prefix, suffix = Path(pattern).name.split("*")
    return {path.name[len(prefix) : -len(suffix)]: path for path in sorted(root.glob(pattern))}


def png_base64(figure, dpi: int = 72) -> str:
    """A figure as base64 PNG on black, for an ``<img src="data:...">`` in a report."""
    return base64.b64encode(png_bytes(figure, dpi=dpi, facecolor="black")).decode("ascii")


def draw_panel(ax, image, brain, hemi, veins, low, high, title):
    """One MinIP slice as displayed, with the brain outline, the midline and vein outlines."""
    ax.imshow(to_display(image), cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    if brain.any():
        ax.contour(to_display(brain).astype(float), [0.5], colors="#ffd11a", linewidths=0.8)
    if (hemi == 2).any() and (hemi == 1).any():
        # Only the border between the hemispheres: the outside of the brain is masked out.
        side = np.ma.masked_where(to_display(hemi) == 0, to_display(hemi).astype(float))
        ax.contour(side, [1.5], colors="#1ad1ff", linewidths=0.8)
    for number, (colour, vein) in enumerate(veins):
        if vein.any():
            style = ("solid", "dashed", "dotted", "dashdot")[number % 4]
            ax.contour(
                to_display(vein).astype(float),
                [0.5],
                colors=colour,
                linewidths=0.9,
                linestyles=style,
            )
    ax.set_title(title, color="white", fontsize=9)
    ax.set_axis_off()
    ax.text(0.01, 0.5, "R", color="white", transform=ax.transAxes, fontsize=8)
    ax.text(0.96, 0.5, "L", color="white", transform=ax.transAxes, fontsize=8)


def write_participant_report(
    bids_dir: str | Path, label: str, derivatives: str | Path | None = None
) -> Path:
    """Write ``derivatives/scvbench/sourcedata/qc/sub-<label>.html`` from the derivatives.

    ``derivatives`` is the folder holding ``scvbench`` (default ``BIDS_DIR/derivatives``).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bids_dir = Path(bids_dir)
    deriv = layout.derivative_dir(bids_dir, "scvbench", derivatives)
    sidecar = json.loads((deriv / DERIVATIVES["minip"].relpath(label, ".json")).read_text())
    minip = np.asanyarray(nib.load(deriv / DERIVATIVES["minip"].relpath(label)).dataobj)
    brain = np.asanyarray(nib.load(deriv / DERIVATIVES["brain_mask"].relpath(label)).dataobj) > 0
    hemi = np.asanyarray(nib.load(deriv / DERIVATIVES["hemispheres"].relpath(label)).dataobj)
    raters = {}
    for name, path in rater_masks(bids_dir, label).items():
        mask = np.asanyarray(nib.load(path).dataobj) > 0
        if mask.shape == minip.shape:
            raters[name] = mask
    colours = dict(zip(raters, RATER_COLOURS * 4, strict=False))
    low, high = sidecar["ExportWindow"]
    slices = list(sidecar["AnalysisSlices"])
    analysis = int(sidecar["AnalysisSlice"])
    labelled = sorted({m for mask in raters.values() for m in np.flatnonzero(mask.any((0, 1)))})
    shown = sorted(set(slices) | set(labelled))

    def veins(m):
        return [(colours[name], mask[:, :, m]) for name, mask in raters.items()]

    figures = []
    large = [analysis, *[m for m in labelled if m != analysis][:2]]
    fig, axes = plt.subplots(1, len(large), figsize=(5 * len(large), 5.2), facecolor="black")
    for ax, m in zip(np.atleast_1d(axes), large, strict=True):
        title = f"analysis slice {m}" if m == analysis else f"labelled slice {m}"
        draw_panel(ax, minip[:, :, m], brain[:, :, m], hemi[:, :, m], veins(m), low, high, title)
    figures.append(("Analysis slice and labelled slices", png_base64(fig, dpi=110)))

    cols = min(6, len(shown))
    rows = int(np.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.4 * rows), facecolor="black")
    axes = np.atleast_1d(axes).ravel()
    for ax, m in zip(axes, shown, strict=False):
        tag = " (analysis)" if m == analysis else (" (labelled)" if m in labelled else "")
        draw_panel(
            ax, minip[:, :, m], brain[:, :, m], hemi[:, :, m], veins(m), low, high, f"{m}{tag}"
        )
    for ax in axes[len(shown) :]:
        ax.set_axis_off()
    figures.append(("Analysis and labelled slices", png_base64(fig)))

    every = max(1, minip.shape[2] // 12)
    mosaic = list(range(0, minip.shape[2], every))
    cols = min(6, len(mosaic))
    rows = int(np.ceil(len(mosaic) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.1 * rows), facecolor="black")
    axes = np.atleast_1d(axes).ravel()
    for ax, m in zip(axes, mosaic, strict=False):
        draw_panel(ax, minip[:, :, m], brain[:, :, m], hemi[:, :, m], [], low, high, f"{m}")
    for ax in axes[len(mosaic) :]:
        ax.set_axis_off()
    figures.append((f"Whole MinIP with brain mask (every {every} slices)", png_base64(fig)))

    plane = json.loads(
        (deriv / DERIVATIVES["hemispheres"].relpath(label, ".json")).read_text()
    ).get("MidSagittalPlane", {})
    rows_html = [
        ("Source", ", ".join(sidecar.get("Sources", []))),
        (
            "Slab",
            f"{sidecar['SlabThicknessMM']:g} mm every {sidecar['SlabStepMM']:g} mm = "
            f"{sidecar['SlabWindowSlices']} slices of {sidecar['SliceSpacingMM']:g} mm every "
            f"{sidecar['SlabStepSlices']} (effective {sidecar['EffectiveSlabThicknessMM']:g} mm)",
        ),
        ("MinIP", f"{minip.shape[0]} x {minip.shape[1]} x {minip.shape[2]} slices"),
        ("Lateral ventricles", f"input slices {sidecar.get('VentricleSlices')}"),
        (
            "Analysis slices",
            f"{slices[0]}-{slices[-1]} ({len(slices)}, {sidecar['AnalysisSlicesMethod']}); "
            f"analysis slice {analysis}",
        ),
        (
            "Mid-sagittal plane",
            f"normal {plane.get('normal_ras')} through {plane.get('point_ras_mm')} (RAS mm)",
        ),
        ("Brain pixels (analysis slice)", str(int(brain[:, :, analysis].sum()))),
        ("Raters", ", ".join(raters) or "none imported yet (scvbench annotations import)"),
    ]
    page = render(
        "qc.html",
        title=f"sub-{label}: scvbench QC",
        width=1100,
        label=label,
        rows=[(key, str(value)) for key, value in rows_html],
        raters=[(name, colours[name]) for name in raters],
        figures=[(title, f"data:image/png;base64,{data}") for title, data in figures],
    )
    path = deriv / "sourcedata" / "qc" / f"sub-{label}.html"
    io.write_text(path, page)
    return path
