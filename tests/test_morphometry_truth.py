"""Morphometry of the true masks against the generator's designed vessels (paper resolution)."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from scvbench.core.agreement import icc
from scvbench.core.morphometry import measure
from scvbench.steps.synth import generate_cohort


@pytest.fixture(scope="module")
def paper_subjects(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper") / "cohort"
    generate_cohort(out, preset="paper", n_subjects=6, seed=11, nprocs=2, progress=False)
    return out


def _remeasured(root):
    """Each designed vessel measured alone on its true MinIP label, beside its design values."""
    vessels = pd.read_csv(root / "truth" / "vessels.tsv", sep="\t", na_values="n/a")
    vessels = vessels.dropna(subset=["design_tortuosity"])
    rows = []
    analysis = {}
    for pid in vessels["patient_id"].unique():
        slices = json.loads((root / "truth" / pid / "geometry.json").read_text())[
            "annotated_minip_slices"
        ]
        analysis[pid] = slices[len(slices) // 2]
    for (pid, m), group in vessels.groupby(["patient_id", "minip_slice"]):
        labels = np.asanyarray(nib.load(root / "truth" / pid / "minip_veins.nii.gz").dataobj)
        affine = np.asarray(
            json.loads((root / "truth" / pid / "geometry.json").read_text())["minip"]["affine"]
        )
        spacing = tuple(np.linalg.norm(affine[:3, :3], axis=0)[:2])
        for _, row in group.iterrows():
            table = measure(labels[:, :, m] == row["design_label"], spacing, min_area_mm2=0)
            if len(table) == 1:
                rows.append(
                    {
                        "tortuosity": table["tortuosity"].iloc[0],
                        "diameter_mm": table["diameter_mm"].iloc[0],
                        "target_tortuosity": row["target_tortuosity"],
                        "target_diameter_mm": row["target_diameter_mm"],
                        "calibrated": row["minip_slice"] == analysis[pid],
                    }
                )
    return pd.DataFrame(rows)


def test_true_masks_measure_the_designed_vessels(paper_subjects):
    table = _remeasured(paper_subjects)
    assert len(table) > 60
    # The main slab's trees are redrawn until the truth measures their targets.
    main = table[table["calibrated"]]
    assert len(main) > 30
    tortuosity = icc(main["target_tortuosity"], main["tortuosity"])
    diameter = icc(main["target_diameter_mm"], main["diameter_mm"])
    # per vessel, on the full image (measured 0.996 and 0.94; before the redrawing, sine veins
    # offset by the mean bias gave 0.91 and 0.80); diameter targets under about 1.1 mm lie
    # below the label's smallest width at these pixels
    assert tortuosity["icc_a1"] >= 0.97, tortuosity
    assert diameter["icc_a1"] >= 0.85, diameter
    assert (main["tortuosity"] - main["target_tortuosity"]).abs().median() < 0.01
    wide = main[main["target_diameter_mm"] >= 1.15]
    assert icc(wide["target_diameter_mm"], wide["diameter_mm"])["icc_a1"] >= 0.95
    # Trees elsewhere get the average measurement bias only (per vessel, widths vary): measured
    # 0.80-0.83 over generator versions on these six subjects; the truth tables hold what the
    # masks measure whatever the design was.
    rest = table[~table["calibrated"]]
    assert icc(rest["target_tortuosity"], rest["tortuosity"])["icc_a1"] >= 0.75


def test_counts_of_the_analysis_slices_match_the_design(paper_subjects):
    cohort = pd.read_csv(paper_subjects / "truth" / "cohort.tsv", sep="\t")
    morph = pd.read_csv(paper_subjects / "truth" / "morphometry.tsv", sep="\t", na_values="n/a")
    morph = morph[morph["analysis"].astype(str) == "True"]
    assert len(morph) >= 2
    unplaced = 0
    for _, row in morph.iterrows():
        target = cohort.loc[cohort["patient_id"] == row["patient_id"], f"count_{row['hemisphere']}"]
        geometry = json.loads(
            (paper_subjects / "truth" / row["patient_id"] / "geometry.json").read_text()
        )
        missing = geometry["unplaced_main_slab_veins"][row["hemisphere"]]
        unplaced += missing
        # a vein may be cut in two; a vein without room is reported, not drawn
        assert abs(int(row["count"]) - (int(target.iloc[0]) - missing)) <= 1
    assert unplaced <= 3


def test_icc_matches_pingouin():
    pg = pytest.importorskip("pingouin")
    rng = np.random.default_rng(4)
    x = rng.normal(1.3, 0.1, 30)
    y = 0.9 * x + 0.2 + rng.normal(0, 0.03, 30)
    ours = icc(x, y)
    frame = pd.DataFrame(
        {"t": np.r_[np.arange(30), np.arange(30)], "r": [0] * 30 + [1] * 30, "v": np.r_[x, y]}
    )
    reference = pg.intraclass_corr(frame, targets="t", raters="r", ratings="v").set_index("Type")
    assert ours["icc_a1"] == pytest.approx(reference.loc["ICC(A,1)", "ICC"], abs=1e-9)
    assert ours["icc_c1"] == pytest.approx(reference.loc["ICC(C,1)", "ICC"], abs=1e-9)
    low, high = reference.loc["ICC(A,1)", "CI95"]
    assert (round(ours["ci_low"], 2), round(ours["ci_high"], 2)) == (low, high)
