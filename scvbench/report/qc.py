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
from io import BytesIO
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.core.display import to_display
from scvbench.report.figures import png_bytes
from scvbench.report.pages import data_uri, render

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = [
    "RATER_COLOURS",
    "draw_panel",
    "panel_pixels",
    "png_base64",
    "rater_masks",
    "write_participant_report",
]

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


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))


def _edges(mask: np.ndarray) -> np.ndarray:
    """The mask's boundary: its pixels with a 4-neighbour outside it (or on the image border)."""
    inner = np.zeros_like(mask)
    inner[1:-1, 1:-1] = (
        mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    )
    return mask & ~inner


def panel_pixels(
    image, brain, hemi, veins, low, high, scale: int = 1, shrink: int = 1
) -> np.ndarray:
    """One MinIP slice as displayed (RGB, uint8) with the outlines :func:`draw_panel` draws.

    The brain outline is yellow, the border between the hemispheres cyan and each rater's vein
    outlines in the rater's colour, one pixel wide at ``scale`` times the slice's resolution.

    Parameters
    ----------
    image : ndarray
        A MinIP slice.
    brain, hemi : ndarray
        Its brain mask and hemisphere labels (1 left, 2 right).
    veins : list of (str, ndarray)
        Colour (``#rrggbb``) and vein mask of each rater.
    low, high : float
        The display window.
    scale : int
        Pixels per slice pixel.
    shrink : int
        Slice pixels per pixel (blocks: the mean grey; a mask where any pixel is in it).

    Returns
    -------
    ndarray
        (rows, columns, 3) uint8, anterior up and the patient's right on the left.
    """

    def shown(array, reduce=np.max):
        array = np.asarray(to_display(array))
        if shrink > 1:  # blocks of shrink x shrink: the mean grey, any mask pixel
            rows, columns = (n - n % shrink for n in array.shape)
            blocks = array[:rows, :columns].reshape(
                rows // shrink, shrink, columns // shrink, shrink
            )
            array = reduce(blocks, axis=(1, 3))
        return array.repeat(scale, 0).repeat(scale, 1) if scale > 1 else array

    grey = np.clip((shown(image, np.mean).astype(float) - low) / max(high - low, 1e-12), 0, 1)
    pixels = np.repeat(np.rint(grey * 255).astype(np.uint8)[:, :, None], 3, axis=2)
    pixels[_edges(shown(brain) > 0)] = _rgb("#ffd11a")
    side = shown(hemi)
    if (side == 1).any() and (side == 2).any():
        border = np.zeros(side.shape, bool)
        for axis in (0, 1):
            a, b = side[:-1] if axis == 0 else side[:, :-1], side[1:] if axis == 0 else side[:, 1:]
            meet = ((a == 1) & (b == 2)) | ((a == 2) & (b == 1))
            if axis == 0:
                border[:-1] |= meet
            else:
                border[:, :-1] |= meet
        pixels[border] = _rgb("#1ad1ff")
    for colour, vein in veins:
        pixels[_edges(shown(vein) > 0)] = _rgb(colour)
    return pixels


def _tile(pixels: np.ndarray, title: str, font) -> Image.Image:
    """A panel under its title, with R and L at the sides (the radiological view)."""
    height = font.size + 8
    tile = Image.new("RGB", (pixels.shape[1], pixels.shape[0] + height))
    tile.paste(Image.fromarray(np.ascontiguousarray(pixels), mode="RGB"), (0, height))
    draw = ImageDraw.Draw(tile)
    draw.text((pixels.shape[1] / 2, 3), title, fill="white", font=font, anchor="mt")
    middle = height + pixels.shape[0] / 2
    draw.text((3, middle), "R", fill="white", font=font, anchor="lm")
    draw.text((pixels.shape[1] - 3, middle), "L", fill="white", font=font, anchor="rm")
    return tile


def _grid(tiles: list[Image.Image], columns: int, gap: int = 6) -> bytes:
    """The tiles in rows of ``columns`` on black, as PNG bytes."""
    width = max(t.width for t in tiles)
    height = max(t.height for t in tiles)
    rows = -(-len(tiles) // columns)
    sheet = Image.new(
        "RGB", (columns * width + (columns - 1) * gap, rows * height + (rows - 1) * gap)
    )
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        sheet.paste(tile, (column * (width + gap), row * (height + gap)))
    buffer = BytesIO()
    sheet.save(buffer, format="PNG")
    return buffer.getvalue()


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def write_participant_report(
    bids_dir: str | Path, label: str, derivatives: str | Path | None = None
) -> Path:
    """Write ``derivatives/scvbench/sourcedata/qc/sub-<label>.html`` from the derivatives.

    ``derivatives`` is the folder holding ``scvbench`` (default ``BIDS_DIR/derivatives``). The
    panels are drawn pixel by pixel (:func:`panel_pixels`), not by matplotlib: the report is
    written for every participant by ``derive`` and again by ``annotations import``.
    """
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

    # the small panels at most 180 pixels wide, the large ones about 500
    shrink = -(-max(minip.shape[:2]) // 180)
    zoom = max(1, round(500 / max(minip.shape[:2])))

    def tile(m, title, with_veins=True, large=False):
        veins = [(colours[n], mask[:, :, m]) for n, mask in raters.items()] if with_veins else []
        pixels = panel_pixels(
            minip[:, :, m],
            brain[:, :, m],
            hemi[:, :, m],
            veins,
            low,
            high,
            scale=zoom if large else 1,
            shrink=1 if large else shrink,
        )
        return _tile(pixels, title, large_font if large else small)

    small, large_font = _font(11), _font(15)
    large = [analysis, *[m for m in labelled if m != analysis][:2]]
    figures = [
        (
            "Analysis slice and labelled slices",
            _grid(
                [
                    tile(
                        m,
                        f"analysis slice {m}" if m == analysis else f"labelled slice {m}",
                        large=True,
                    )
                    for m in large
                ],
                len(large),
            ),
        )
    ]
    tiles = []
    for m in shown:
        tag = " (analysis)" if m == analysis else (" (labelled)" if m in labelled else "")
        tiles.append(tile(m, f"{m}{tag}"))
    figures.append(("Analysis and labelled slices", _grid(tiles, min(6, len(tiles)))))
    every = max(1, minip.shape[2] // 12)
    mosaic = [tile(m, f"{m}", with_veins=False) for m in range(0, minip.shape[2], every)]
    figures.append(
        (f"Whole MinIP with brain mask (every {every} slices)", _grid(mosaic, min(6, len(mosaic))))
    )

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
        figures=[(title, data_uri(png)) for title, png in figures],
    )
    path = deriv / "sourcedata" / "qc" / f"sub-{label}.html"
    io.write_text(path, page)
    return path
