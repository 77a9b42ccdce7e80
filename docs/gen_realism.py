"""Write the README's realism card: measured statistics of generated MinIPs beside the literature.

    python docs/gen_realism.py --cohort OUT    # measure a generated cohort, store, write README
    python docs/gen_realism.py                 # rewrite the README from the stored measurement

``OUT`` is a ``scvbench synth`` cohort (the README's comes from ``scvbench synth OUT --preset
paper --subjects 16 --sites multisite --seed 21``). Every statistic is measured on the analysis
MinIP of each subject (the main annotated slice), from the delivered DICOM and the truth:

- vein pixel fraction: labelled superficial-vein pixels over brain pixels of the MinIP;
- tributaries per tree (the design's graph) and skeleton junctions per vessel (measured);
- vessel length and diameter (the truth morphometry, as ``scvbench morph`` measures);
- medullary veins per hemisphere whose course lies in the 20 mm slab;
- contrast-to-noise of the superficial veins on the MinIP per site: (median brain tissue - median
  vein) over the noise, the noise being 1.4826 x the median absolute deviation of neighbouring
  pixel differences in the brain of the 1 mm slice, divided by sqrt 2.

The measurement is kept in ``docs/realism.json`` so the page (and ``tests/test_docs.py``) can be
rewritten without the cohort.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
STORE = ROOT / "docs" / "realism.json"
BEGIN, END = "<!-- realism:begin -->", "<!-- realism:end -->"

#: Published values the card sets beside the synthetic ones.
LITERATURE = {
    "scv_diameter_mm": "1.28-1.34 (group medians; the study, Table 3)",
    "scv_count": "4-6 per hemisphere (group medians; the study, Tables 2-3)",
    "scv_tortuosity": "1.15-1.37 (group medians; the study, Table 3)",
    "dmv_count": (
        "4-10 anterior + 8-19 central + 3-7 posterior (3 T mIP, 60 volunteers; Chen et al., "
        "Acta Anat Sin 2016;47:796)"
    ),
    "dmv_caliber_mm": "0.2-0.3 (Chen et al. 2016)",
}


def _quartiles(values) -> list[float]:
    values = np.asarray(values, float)
    values = values[np.isfinite(values)]
    return [float(v) for v in np.percentile(values, [50, 25, 75])] if values.size else []


def measure_cohort(folder: Path) -> dict:
    """Every statistic of the card on one generated cohort."""
    import nibabel as nib
    import pandas as pd

    sys.path.insert(0, str(ROOT))
    from scvbench.core.mip import minimum_intensity_projection, slab_window
    from scvbench.steps.synth.preview import load_series, series_folder

    manifest = json.loads((folder / "truth" / "manifest.json").read_text())
    vessels = pd.read_csv(folder / "truth" / "vessels.tsv", sep="\t", na_values="n/a")
    rows: list[dict] = []
    for subject in manifest["subjects"]:
        pid = subject["patient_id"]
        slices = subject["annotated_minip_slices"]
        m = subject["analysis_minip_slice"]
        m = slices[len(slices) // 2] if m is None else m
        truth = folder / "truth" / pid
        geometry = json.loads((truth / "geometry.json").read_text())
        labels = np.asarray(nib.load(truth / "minip_veins.nii.gz").dataobj)[:, :, m]
        brain = np.asarray(nib.load(truth / "minip_brain_mask.nii.gz").dataobj)[:, :, m] > 0
        veins = (labels > 0) & brain
        swi, dz = load_series(series_folder(folder / "dicom" / subject["dicom_folder"], "swi"))
        window = slab_window(manifest["minip"]["slab_mm"], manifest["minip"]["step_mm"], dz)
        display = minimum_intensity_projection(swi, window)[:, :, m]  # rows anterior-posterior
        veins_d, brain_d = veins[::-1, ::-1].T, brain[::-1, ::-1].T
        single = swi[:, :, int(window.centre(m))]
        diffs = np.diff(single, axis=1)[brain_d[:, 1:] & brain_d[:, :-1]]
        noise = 1.4826 * np.median(np.abs(diffs - np.median(diffs))) / np.sqrt(2)
        tissue = np.median(display[brain_d & ~veins_d])
        vein = np.median(display[veins_d]) if veins_d.any() else np.nan
        # medullary veins with a point inside the slab (grid slice index from RAS)
        inv = np.linalg.inv(np.asarray(geometry["swi_grid"]["canonical_affine"]))
        lo, hi = window.covering(m).start, window.covering(m).stop - 1
        dmv = {"left": 0, "right": 0}
        for v in geometry["veins"]:
            if v["kind"] == "dmv":
                ras = np.asarray(v["centerline_ras_mm"])
                k = ras @ inv[:3, :3].T[:, 2] + inv[2, 3]
                dmv[v["hemisphere"]] += bool(np.any((k >= lo) & (k <= hi)))
        on_slice = vessels[(vessels["patient_id"] == pid) & (vessels["minip_slice"] == m)]
        visible = set(np.unique(labels[labels > 0]).tolist())
        tributaries = [
            sum(n["kind"] == "junction" for n in v["tree"]["nodes"])
            for v in geometry["veins"]
            if v["kind"] == "scv" and v["label"] in visible
        ]
        rows.append(
            {
                "site": subject.get("site", ""),
                "vein_fraction": float(veins.sum() / max(brain.sum(), 1)),
                "cnr": float((tissue - vein) / noise) if noise > 0 else np.nan,
                "dmv": [dmv["left"], dmv["right"]],
                "tributaries": tributaries,
                "junctions": on_slice["n_junctions"].tolist(),
                "length_mm": on_slice["length_mm"].tolist(),
                "diameter_mm": on_slice["diameter_mm"].tolist(),
                "tortuosity": on_slice["tortuosity"].tolist(),
                "count": [int((on_slice["hemisphere"] == h).sum()) for h in ("left", "right")],
            }
        )
    flat = {
        key: [x for r in rows for x in r[key]]
        for key in (
            "dmv",
            "tributaries",
            "junctions",
            "length_mm",
            "diameter_mm",
            "tortuosity",
            "count",
        )
    }
    sites = sorted({r["site"] for r in rows})
    return {
        "cohort": {k: manifest[k] for k in ("preset", "seed", "n_subjects") if k in manifest},
        "sites_used": sites,
        "subjects": len(rows),
        "vein_fraction_pct": [100 * v for v in _quartiles([r["vein_fraction"] for r in rows])],
        "tributaries_per_tree": [
            float(np.mean(flat["tributaries"])),
            *_quartiles(flat["tributaries"]),
        ],
        "junctions_per_vessel": [float(np.mean(flat["junctions"])), *_quartiles(flat["junctions"])],
        "length_mm": _quartiles(flat["length_mm"]),
        "diameter_mm": _quartiles(flat["diameter_mm"]),
        "tortuosity": _quartiles(flat["tortuosity"]),
        "count": _quartiles(flat["count"]),
        "dmv_per_hemisphere": _quartiles(flat["dmv"]),
        "cnr_by_site": {s: _quartiles([r["cnr"] for r in rows if r["site"] == s]) for s in sites},
    }


def _q(values, digits=2) -> str:
    if not values:
        return "n/a"
    return f"{values[0]:.{digits}f} ({values[1]:.{digits}f}, {values[2]:.{digits}f})"


def section() -> str:
    """The README section from the stored measurement."""
    if not STORE.exists():
        return (
            f"{BEGIN}\n(no measurement yet: run `python docs/gen_realism.py --cohort OUT`)\n{END}"
        )
    data = json.loads(STORE.read_text())
    lines = [
        "| statistic (analysis MinIP, per subject or vessel) | synthetic: median (Q1, Q3) "
        "| published |",
        "|---|---|---|",
        f"| superficial-vein pixels / brain pixels (%) | {_q(data['vein_fraction_pct'])} | - |",
        f"| superficial veins per hemisphere | {_q(data['count'], 0)} | "
        f"{LITERATURE['scv_count']} |",
        f"| vessel diameter (mm) | {_q(data['diameter_mm'])} | {LITERATURE['scv_diameter_mm']} |",
        f"| vessel tortuosity | {_q(data['tortuosity'])} | {LITERATURE['scv_tortuosity']} |",
        f"| vessel length (mm) | {_q(data['length_mm'], 1)} | - |",
        f"| tributaries per tree (design; mean {data['tributaries_per_tree'][0]:.2f}) | "
        f"{_q(data['tributaries_per_tree'][1:], 0)} | - |",
        f"| skeleton junctions per vessel (measured; mean "
        f"{data['junctions_per_vessel'][0]:.2f}) | {_q(data['junctions_per_vessel'][1:], 0)} | - |",
        f"| medullary veins per hemisphere in the 20 mm slab | {_q(data['dmv_per_hemisphere'], 0)}"
        f" | {LITERATURE['dmv_count']} |",
        f"| medullary vein diameter (mm, design) | 0.24-0.40 | {LITERATURE['dmv_caliber_mm']} |",
    ]
    for site, values in data["cnr_by_site"].items():
        lines.append(f"| vein-to-tissue CNR on the MinIP, `{site}` | {_q(values, 1)} | - |")
    cohort = data["cohort"]
    note = (
        f"Synthetic: {data['subjects']} subjects of `scvbench synth --preset "
        f"{cohort.get('preset')} --sites multisite --seed {cohort.get('seed')}`; measured by "
        "`python docs/gen_realism.py` (definitions in its docstring)."
    )
    return f"{BEGIN}\n" + "\n".join(lines) + f"\n\n{note}\n{END}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=Path, help="a generated cohort to measure")
    args = parser.parse_args(argv)
    if args.cohort:
        STORE.write_text(json.dumps(measure_cohort(args.cohort), indent=1) + "\n")
    text = README.read_text()
    if BEGIN not in text:
        raise SystemExit(f"{README}: no {BEGIN} marker")
    head, rest = text.split(BEGIN, 1)
    README.write_text(head + section() + rest.split(END, 1)[1])
    print(f"wrote {README}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
