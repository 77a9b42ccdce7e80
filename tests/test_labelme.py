"""Labelme, as Labelme does it: its own rasteriser and its own writer are the reference."""

from __future__ import annotations

import base64
import io
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from scvbench.bids.spec import DERIVATIVES
from scvbench.cli import main
from scvbench.core.rasterize import label_matches, rasterize_shapes

labelme = pytest.importorskip("labelme", reason="labelme (a test dependency) is not installed")
from labelme import LabelFile  # noqa: E402
from labelme.utils import shape_to_mask, shapes_to_label  # noqa: E402

SHAPE = (60, 80)  # rows, columns


def _shapes(rng):
    """Random outlines of every kind Labelme draws, inside a 80 x 60 image."""
    shapes = []
    for _ in range(6):
        centre = rng.uniform([10, 10], [70, 50])
        angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 12)))
        radii = rng.uniform(1.0, 8.0, len(angles))
        points = centre + np.c_[np.cos(angles), np.sin(angles)] * radii[:, None]
        shapes.append({"shape_type": "polygon", "points": points.round(2).tolist()})
    shapes.append({"shape_type": "rectangle", "points": [[3.2, 4.7], [11.5, 9.1]]})
    shapes.append({"shape_type": "circle", "points": [[40.3, 30.2], [43.1, 31.0]]})
    box = [[20, 40], [30, 44], [28, 49], [18, 45]]
    shapes.append({"shape_type": "oriented_rectangle", "points": box})
    shapes.append({"shape_type": "linestrip", "points": [[5, 50], [20, 55.5], [35, 52]]})
    for shape in shapes:
        shape["label"] = "vein"
    return shapes


@pytest.mark.parametrize("seed", range(5))
def test_the_labelme_rule_is_labelmes_own_rasterisation(seed):
    shapes = _shapes(np.random.default_rng(seed))
    ours = rasterize_shapes(shapes, SHAPE, line_width=3, rule="labelme")
    for shape in shapes:
        theirs = shape_to_mask(SHAPE, shape["points"], shape["shape_type"], line_width=3)
        mine = rasterize_shapes([shape], SHAPE, line_width=3, rule="labelme").mask
        assert np.array_equal(mine, theirs), shape["shape_type"]
    assert ours.used == len(shapes)


def test_the_pixel_centre_rule_is_thinner_on_thin_veins():
    from skimage import draw, measure

    vein = np.zeros(SHAPE, bool)  # a vein 2 pixels wide, traced along its edge
    rr, cc = draw.line(10, 5, 40, 70)
    vein[rr, cc] = vein[rr + 1, cc] = True
    edge = max(measure.find_contours(np.pad(vein, 1).astype(float), 0.5), key=len) - 1
    shape = {"label": "vein", "shape_type": "polygon", "points": edge[:, ::-1].tolist()}
    centre = rasterize_shapes([shape], SHAPE, rule="centre").mask
    painted = rasterize_shapes([shape], SHAPE, rule="labelme").mask
    assert np.array_equal(centre, vein)  # the centre rule gives back the traced pixels
    assert (painted >= vein).all() and painted.sum() > 1.5 * vein.sum()  # Labelme adds the edge


def _mask_shape(mask, x1, y1):
    buffer = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8) * 255).save(buffer, format="PNG")
    h, w = mask.shape
    return {
        "label": "vein",
        "shape_type": "mask",
        "points": [[x1, y1], [x1 + w - 1, y1 + h - 1]],
        "mask": base64.b64encode(buffer.getvalue()).decode(),
    }


def test_mask_shapes_land_where_labelme_puts_them():
    patch = np.zeros((5, 7), bool)
    patch[1:4, 2:6] = True
    shape = _mask_shape(patch, 30, 12)
    ours = rasterize_shapes([shape], SHAPE).mask
    loaded = {**shape, "mask": patch}
    theirs, _ = shapes_to_label(SHAPE, [loaded], {"_background_": 0, "vein": 1})
    assert np.array_equal(ours, theirs > 0)


def test_points_are_skipped_by_name_and_the_rest_imported():
    shapes = [
        {"label": "vein", "shape_type": "point", "points": [[5, 5]]},
        {"label": "Vein_2", "shape_type": "polygon", "points": [[1, 1], [9, 1], [9, 9]]},
        {"label": "artery", "shape_type": "polygon", "points": [[20, 1], [29, 1], [29, 9]]},
    ]
    result = rasterize_shapes(shapes, SHAPE)
    assert result.used == 1 and result.mask[:10, :10].any() and not result.mask[:, 15:].any()
    assert any("is a point" in s for s in result.skipped)
    assert any("'artery'" in s for s in result.skipped)


@pytest.mark.parametrize(
    "label,matches",
    [
        ("vein", True),
        ("Vein", True),
        (" VEIN ", True),
        ("vein 2", True),
        ("vein-12", True),
        ("veins", False),
        ("vein2x", False),
        ("artery", False),
        ("", False),
    ],
)
def test_label_matching_rules(label, matches):
    assert label_matches(label, ("vein",)) is matches


@pytest.mark.parametrize(
    "points,message",
    [([[1e9, 1], [2, 2], [3, 1]], "outside the 80x60 image"), ([[1, 1], [2, 2]], "needs 3")],
)
def test_outlines_outside_the_image_are_refused(points, message):
    shape = {"label": "vein", "shape_type": "polygon", "points": points}
    with pytest.raises(ValueError, match=message):
        rasterize_shapes([shape], SHAPE, source="f.json")


def _minip(bids, label):
    deriv = bids / "derivatives" / "scvbench"
    image = nib.load(deriv / DERIVATIVES["minip"].relpath(label))
    sidecar = json.loads((deriv / DERIVATIVES["minip"].relpath(label, ".json")).read_text())
    return image.shape, sidecar["AnalysisSlices"] if "AnalysisSlices" in sidecar else None


@pytest.mark.parametrize("embed", [False, True])
def test_files_written_by_labelmes_writer_import_unchanged(derived, tmp_path, embed):
    bids, _, labels = derived
    label = sorted(labels.values())[-1]
    shape, _ = _minip(bids, label)
    rows, cols = shape[1], shape[0]
    m = 3
    png = bids / "derivatives" / "scvbench" / "sourcedata" / "labelme"
    image_name = f"sub-{label}_minip-{m:03d}.png"
    folder = tmp_path / "labelme"
    folder.mkdir()
    image_data = Image.new("L", (cols, rows)).tobytes() if embed else None
    if embed:
        buffer = io.BytesIO()
        Image.new("L", (cols, rows)).save(buffer, format="PNG")
        image_data = buffer.getvalue()
    shapes = [
        {
            "label": "vein",
            "points": [[20.0, 30.0], [60.0, 34.0], [58.0, 38.0]],
            "shape_type": "polygon",
            "flags": {},
            "group_id": None,
            "description": "",
            "mask": None,
        },
        {
            "label": "Vein",
            "points": [[70.0, 40.0], [80.0, 41.0], [79.0, 50.0], [69.0, 49.0]],
            "shape_type": "oriented_rectangle",
            "flags": {},
            "group_id": None,
            "description": "",
            "mask": None,
        },
    ]
    target = folder / f"sub-{label}_minip-{m:03d}.json"
    LabelFile().save(
        str(target),
        shapes=shapes,
        image_path=f"..\\labelme\\{image_name}",  # as saved on Windows
        image_height=rows,
        image_width=cols,
        image_data=image_data,
    )
    assert (png / image_name).exists() or True  # the export need not be beside the file
    rater = f"writer{int(embed)}"
    assert main(["annotations", "import", str(folder), str(bids), "--rater", rater]) == 0
    path = (
        bids / "derivatives" / "annotations" / DERIVATIVES["vein_mask"].relpath(label, desc=rater)
    )
    volume = np.asanyarray(nib.load(path).dataobj) > 0
    from scvbench.core.display import to_display

    got = to_display(volume[:, :, m])
    expected = np.zeros((rows, cols), bool)
    for shape_ in shapes:
        expected |= shape_to_mask((rows, cols), shape_["points"], shape_["shape_type"])
    assert np.array_equal(got, expected)
