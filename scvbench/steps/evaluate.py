"""``scvbench evaluate``: score a submission's vein masks against the reference annotations.

Validation comes first: the submission's ``dataset_description.json``, every required
participant and slice, the grid (shape and affine equal to the MinIP), binary values (or a
``probseg`` thresholded at ``threshold``), no NaN. Each problem is one line; a case with a
problem gets the worst-case scores fixed in :func:`scvbench.core.metrics.worst_case` (with
``strict`` any problem stops the evaluation instead).

Cases are the reference-labelled slices of the participants of a split (``test``: the held-out
development participants; ``association``: the association cohort; ``all``: every participant
with reference masks). Each case is scored inside the brain mask and inside each hemisphere
(:mod:`scvbench.core.metrics`); the summary gives, per score, the mean, the median and a bootstrap
95 % CI of the mean over cases (1,000 resamples, seed 0).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.layout import sha256
from scvbench.bids.spec import DERIVATIVES
from scvbench.bids.tables import load_covariates
from scvbench.core.association import compare, participant_table, reproduction
from scvbench.core.metrics import SCORES, segmentation_scores, worst_case
from scvbench.core.morphometry import measure, summarize
from scvbench.core.stats import icc, run_study
from scvbench.errors import ScvbenchError
from scvbench.io import load_canonical
from scvbench.report.evaluation import GALLERY, write_report
from scvbench.steps.convert.run import read_key
from scvbench.steps.splits import SPLITS_FILE, labelled_slices, load_splits, reference_masks
from scvbench.steps.submission import InvalidSubmission, open_submission, submission_root

__all__ = ["SCHEMA_VERSION", "InvalidSubmission", "evaluate", "summarise"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = "1.0"
BOOTSTRAP = 1000
SPLITS = ("test", "association", "all")


def _cases(bids_dir: Path, split: str, splits_path: Path | None, rater: str | None):
    """(rater, split checksum, [(participant, reference mask, labelled slices)]) of a split.

    The reference rater defaults to the split file's (``all``: the first rater).
    """
    checksum = None
    if split == "all":
        rater, masks = reference_masks(bids_dir, rater)
        participants = [f"sub-{label}" for label in sorted(masks)]
    else:
        splits = load_splits(splits_path or bids_dir / SPLITS_FILE)
        rater, masks = reference_masks(bids_dir, rater or splits["reference"]["rater"])
        participants = splits[split]
        checksum = splits["checksum"]
    cases = []
    for pid in participants:
        path = masks.get(pid.removeprefix("sub-"))
        if path is None:
            raise ScvbenchError(f"{pid}: in the {split} split but has no reference mask of {rater}")
        cases.append((pid, path, labelled_slices(path)))
    return rater, checksum, cases


def _load_prediction(root: Path, pid: str, grid, threshold: float, problems: list[str]):
    """The submission's 3-D mask of ``pid`` (bool) and the slices it predicted, or None."""
    label = pid.removeprefix("sub-")
    mask_path = root / DERIVATIVES["vein_mask"].relpath(label)
    prob_path = root / DERIVATIVES["vein_probseg"].relpath(label)
    path = mask_path if mask_path.is_file() else prob_path if prob_path.is_file() else None
    if path is None:
        problems.append(f"{pid}: missing {mask_path.relative_to(root)} (and no probseg)")
        return None, None
    try:
        image = nib.as_closest_canonical(nib.load(str(path)))
        data = np.asanyarray(image.dataobj)
    except Exception as err:  # nibabel raises many kinds for damaged files
        problems.append(f"{pid}: {path.name} cannot be read ({type(err).__name__})")
        return None, None
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    shape, affine = grid
    if data.shape != shape:
        problems.append(f"{pid}: {path.name} has shape {data.shape}, the MinIP has {shape}")
        return None, None
    if not np.allclose(image.affine, affine, atol=1e-3):
        problems.append(f"{pid}: {path.name} has another affine than the MinIP (wrong grid)")
        return None, None
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        problems.append(f"{pid}: {path.name} contains NaN or infinite values")
        return None, None
    if path == mask_path:
        values = np.unique(data)
        if not set(values.tolist()) <= {0, 1}:
            shown = ", ".join(f"{v:g}" for v in values[:5])
            problems.append(
                f"{pid}: {path.name} is not binary (values {shown}); write 0/1 or a probseg"
            )
            return None, None
        mask = data > 0
    else:
        if data.min() < 0 or data.max() > 1:
            problems.append(f"{pid}: {path.name} has probabilities outside 0..1")
            return None, None
        mask = data >= threshold
    predicted = None
    sidecar = path.with_name(path.name.replace(".nii.gz", ".json"))
    if sidecar.is_file():
        try:
            predicted = json.loads(sidecar.read_text()).get("PredictedSlices")
        except ValueError:
            problems.append(f"{pid}: {sidecar.name} is not valid JSON")
    return mask, (None if predicted is None else {int(k) for k in predicted})


MEASURES = ("count", "diameter_mm", "tortuosity")


def truth_pairs(truth_dir: Path, key_file: Path, pairs: pd.DataFrame) -> pd.DataFrame:
    """The generator's measured truth for the cases of ``pairs`` (``<measure>_truth`` columns).

    ``truth_dir`` is a synthetic cohort's ``truth/`` folder (``morphometry.tsv``, keyed by
    PatientID and MinIP slice), ``key_file`` the PatientID-to-participant key of ``convert``.
    """
    table_path = Path(truth_dir) / "morphometry.tsv"
    try:
        truth = pd.read_csv(table_path, sep="\t", na_values="n/a")
    except OSError as err:
        raise ScvbenchError(f"{table_path}: cannot read the truth table ({err})") from None
    key = read_key(Path(key_file), "key file")
    labels = {patient: f"sub-{label.removeprefix('sub-')}" for patient, label in key.items()}
    truth["participant_id"] = truth["patient_id"].map(labels)
    truth = truth.dropna(subset=["participant_id"]).astype({"participant_id": str})
    truth = truth.rename(columns={"minip_slice": "slice"})
    columns = {m: f"{m}_truth" for m in MEASURES}
    merged = pairs.merge(
        truth[["participant_id", "slice", "hemisphere", *MEASURES]].rename(columns=columns),
        on=["participant_id", "slice", "hemisphere"],
        how="left",
    )
    missing = merged["count_truth"].isna().sum()
    if missing:
        raise ScvbenchError(
            f"{table_path}: no truth for {missing} case hemisphere(s); is it the cohort of "
            f"this data set and {key_file} its key?"
        )
    return merged


def _association(
    bids_dir: Path, pairs: pd.DataFrame, published: str | None, with_truth: bool = False
) -> dict:
    """The study's statistics on the submission's and the reference's morphometry, compared."""
    phenotype = bids_dir / "phenotype" / "fazekas.tsv"
    note = None
    if not phenotype.is_file():
        phenotype, note = None, "no phenotype/fazekas.tsv: the sex comparisons only"
    ids = sorted(pairs["participant_id"].unique())
    people = load_covariates(bids_dir / "participants.tsv", phenotype, ids)
    submission = participant_table(pairs, "submission", people)
    reference = participant_table(pairs, "reference", people)
    out = reproduction(submission, reference, published)
    if with_truth:
        truth = participant_table(pairs, "truth", people)
        out["truth"] = compare(run_study(submission), run_study(truth))
        out["reference_vs_truth"] = compare(run_study(reference), run_study(truth))
    if note:
        out["note"] = note
    return out


def _morph_pair(pid, k, prediction, reference, hemispheres, spacing) -> pd.DataFrame:
    """Per-hemisphere count, mean diameter and tortuosity of one slice, predicted and reference."""
    out = []
    for source, mask in (("submission", prediction), ("reference", reference)):
        table = summarize(measure(mask, spacing, hemispheres))
        table.insert(0, "source", source)
        out.append(table)
    both = pd.concat(out, ignore_index=True)
    wide = both.pivot(index="hemisphere", columns="source", values=list(MEASURES))
    wide.columns = [f"{measure}_{source}" for measure, source in wide.columns]
    wide = wide.reset_index()
    wide.insert(0, "slice", k)
    wide.insert(0, "participant_id", pid)
    return wide


def morphometry_agreement(pairs: pd.DataFrame) -> dict:
    """ICC(A,1), ICC(C,1), Bland-Altman bias and 95 % limits, MAE per measure and hemisphere.

    Units are slices x hemispheres; a pair with a missing value (no vessel: no diameter or
    tortuosity) is left out of that measure and counted in ``n_missing``.
    """
    out: dict = {}
    for side in ("left", "right"):
        part = pairs[pairs["hemisphere"] == side]
        for name in MEASURES:
            sub = part[f"{name}_submission"].to_numpy(float)
            ref = part[f"{name}_reference"].to_numpy(float)
            keep = np.isfinite(sub) & np.isfinite(ref)
            diff = sub[keep] - ref[keep]
            agreement = icc(ref[keep], sub[keep])
            bias = float(diff.mean()) if diff.size else None
            sd = float(diff.std(ddof=1)) if diff.size > 1 else None
            out.setdefault(side, {})[name] = {
                "n": int(keep.sum()),
                "n_missing": int((~keep).sum()),
                "icc_a1": agreement["icc_a1"],
                "icc_c1": agreement["icc_c1"],
                "bias": bias,
                "loa_low": None if sd is None else bias - 1.96 * sd,
                "loa_high": None if sd is None else bias + 1.96 * sd,
                "mae": float(np.abs(diff).mean()) if diff.size else None,
            }
    return out


def _human_reference(
    bids_dir: Path, deriv: Path, rater: str, cases, human_rater: str | None = None
) -> dict | None:
    """Another rater's masks scored against ``rater``'s on the same slices (the human level).

    ``human_rater`` defaults to the first other rater (alphabetically) who labelled every
    case's slices.
    """
    root = bids_dir / "derivatives" / "annotations"
    others = (
        [human_rater]
        if human_rater
        else sorted(
            {
                p.name.split("_desc-")[1].split("_")[0]
                for p in root.glob("sub-*/anat/*_desc-*_mask.nii.gz")
            }
            - {rater}
        )
    )
    masks, other = None, None
    for candidate in others:
        _, found = reference_masks(bids_dir, candidate)
        if all(
            pid.removeprefix("sub-") in found
            and set(slices) <= set(labelled_slices(found[pid.removeprefix("sub-")]))
            for pid, _, slices in cases
        ):
            masks, other = found, candidate
            break
    if masks is None:
        return None
    rows = []
    for pid, ref_path, slices in cases:
        label = pid.removeprefix("sub-")
        if label not in masks:
            continue
        reference, affine = load_canonical(ref_path)
        second, _ = load_canonical(masks[label])
        brain, _ = load_canonical(deriv / DERIVATIVES["brain_mask"].relpath(label))
        spacing = tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0)[:2])
        for k in slices:
            rows.append(
                segmentation_scores(second[:, :, k], reference[:, :, k], brain[:, :, k], spacing)
            )
    if not rows:
        return None
    return {"rater": other, "n_cases": len(rows), "overall": summarise(pd.DataFrame(rows))}


def _linked_dataset(submission: Path) -> Path:
    """The BIDS dataset a submission folder links as ``raw`` (how ``predict`` writes it)."""
    description = _root_description(submission)
    try:
        link = json.loads(description.read_text())["DatasetLinks"]["raw"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ScvbenchError(
            f"{submission}: no DatasetLinks raw in its dataset_description.json; give "
            "--reference BIDS_DIR"
        ) from None
    target = (description.parent / link).resolve() if "://" not in link else None
    if target is None or not (target / "dataset_description.json").is_file():
        raise ScvbenchError(
            f"{submission}: its raw link {link!r} is no BIDS dataset here; give --reference"
        )
    return target


def _root_description(submission: Path) -> Path:
    if not submission.exists():
        raise ScvbenchError(f"{submission}: no such submission folder or archive")
    if not submission.is_dir():
        raise ScvbenchError(
            f"{submission}: an archive links no data set; give --reference BIDS_DIR"
        )

    return submission_root(submission) / "dataset_description.json"


def _data_checksum(cases) -> str:
    """SHA-256 over the reference masks scored (participant, slices, file hash)."""
    digest = hashlib.sha256()
    for pid, path, slices in sorted(cases, key=lambda c: c[0]):
        digest.update(f"{pid}:{slices}:{sha256(path)}\n".encode())
    return digest.hexdigest()


def _dataset_identity(bids_dir: Path) -> dict:
    """Name of the BIDS dataset and, for a synthetic cohort, its preset and seed."""
    identity: dict = {"name": None, "preset": None, "seed": None}
    try:
        identity["name"] = json.loads((bids_dir / "dataset_description.json").read_text())["Name"]
    except (OSError, ValueError, KeyError):
        pass
    manifest = bids_dir.parent / "sourcedata" / "truth" / "manifest.json"
    if manifest.is_file():
        info = json.loads(manifest.read_text())
        identity.update(preset=info.get("preset"), seed=info.get("seed"))
    return identity


def _bootstrap(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    if len(values) < 2:
        return float(values.mean()), float(values.mean())
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (BOOTSTRAP, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def summarise(cases: pd.DataFrame) -> dict:
    """Mean, median and bootstrap 95 % CI of the mean for each score over the cases."""
    out = {}
    for name in SCORES:
        values = cases[name].to_numpy(float)
        low, high = _bootstrap(values)
        out[name] = {
            "mean": float(values.mean()),
            "median": float(np.median(values)),
            "ci_low": low,
            "ci_high": high,
        }
    return out


def evaluate(
    submission: str | Path,
    bids_dir: str | Path | None,
    out: str | Path,
    split: str = "test",
    splits_path: str | Path | None = None,
    rater: str | None = None,
    threshold: float = 0.5,
    strict: bool = False,
    published: str | None = None,
    human_rater: str | None = None,
    truth: str | Path | None = None,
    key_file: str | Path | None = None,
    derivatives: str | Path | None = None,
) -> dict:
    """Score ``submission`` and write ``results.json``, ``cases.tsv`` and ``summary.md``.

    MinIP, brain masks and hemispheres come from the ``scvbench`` derivatives in
    ``derivatives`` (default ``BIDS_DIR/derivatives``).
    """
    if split not in SPLITS:
        raise ScvbenchError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    bids_dir = _linked_dataset(Path(submission)) if bids_dir is None else Path(bids_dir)
    out = Path(out)
    rater, checksum, cases = _cases(bids_dir, split, splits_path, rater)
    problems: list[str] = []
    rows, hemi_rows, morph_pairs = [], [], []
    deriv = layout.derivative_dir(bids_dir, "scvbench", derivatives)
    with open_submission(submission) as root:
        description = root / "dataset_description.json"
        generated_by, configuration = None, None
        try:
            document = json.loads(description.read_text())
            first = (document.get("GeneratedBy") or [{}])[0]
            generated_by = first.get("Name")
            configuration = first.get("Configuration")
            if document.get("DatasetType") != "derivative":
                problems.append(f"{description.name}: DatasetType is not derivative")
        except FileNotFoundError:
            problems.append("dataset_description.json is missing")
        except (OSError, ValueError, AttributeError, IndexError):
            problems.append("dataset_description.json is not valid JSON of a derivative dataset")
        for pid, ref_path, slices in cases:
            label = pid.removeprefix("sub-")
            reference, affine = load_canonical(ref_path)
            brain, _ = load_canonical(deriv / DERIVATIVES["brain_mask"].relpath(label))
            hemi, _ = load_canonical(deriv / DERIVATIVES["hemispheres"].relpath(label))
            spacing = tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0)[:2])
            mask, predicted = _load_prediction(
                root, pid, (reference.shape, affine), threshold, problems
            )
            for k in slices:
                ref = reference[:, :, k] > 0
                b = brain[:, :, k] > 0
                usable = mask is not None and (predicted is None or k in predicted)
                if mask is not None and not usable:
                    problems.append(f"{pid}: slice {k} is not among the PredictedSlices")
                hemi_k = hemi[:, :, k]
                morph_pairs.append(
                    _morph_pair(
                        pid,
                        k,
                        mask[:, :, k] & b if usable else np.zeros_like(ref),
                        ref & b,
                        hemi_k,
                        spacing,
                    )
                )
                row = {"participant_id": pid, "slice": k, "valid": usable}
                if usable:
                    row.update(segmentation_scores(mask[:, :, k], ref, b, spacing))
                else:
                    row.update(worst_case(ref & b, spacing))
                rows.append(row)
                for code, side in ((1, "left"), (2, "right")):
                    region = b & (hemi[:, :, k] == code)
                    scores = (
                        segmentation_scores(mask[:, :, k], ref, region, spacing)
                        if usable
                        else worst_case(ref & region, spacing)
                    )
                    hemi_rows.append(
                        {"participant_id": pid, "slice": k, "hemisphere": side, **scores}
                    )
        gallery = _gallery_images(root, deriv, cases, rows, threshold)
    human = _human_reference(bids_dir, deriv, rater, cases, human_rater)
    if strict and problems:
        raise InvalidSubmission(
            f"{submission}: {len(problems)} problem(s):\n" + "\n".join(problems)
        )
    table = pd.DataFrame(rows, columns=["participant_id", "slice", "valid", *SCORES])
    hemis = pd.DataFrame(hemi_rows)
    results = {
        "schema_version": SCHEMA_VERSION,
        "submission": {
            "path": str(submission),
            "generated_by": generated_by,
            "configuration": configuration,
        },
        "reference": {
            "rater": rater,
            "split": split,
            "splits_checksum": checksum,
            "data_checksum": _data_checksum(cases),
            "dataset": _dataset_identity(bids_dir),
        },
        "problems": problems,
        "segmentation": {
            "n_cases": len(table),
            "n_invalid": int((~table["valid"]).sum()) if len(table) else 0,
            "overall": summarise(table) if len(table) else {},
            "hemispheres": {
                side: summarise(hemis[hemis["hemisphere"] == side])
                for side in ("left", "right")
                if len(hemis)
            },
        },
    }
    pairs = pd.concat(morph_pairs, ignore_index=True)
    results["morphometry"] = morphometry_agreement(pairs)
    if truth is not None:
        if key_file is None:
            raise ScvbenchError("--truth needs --key-file (PatientID to participant key)")
        pairs = truth_pairs(Path(truth), Path(key_file), pairs)
    results["association"] = _association(bids_dir, pairs, published, truth is not None)
    if human is not None:
        results["human_reference"] = human
    io.write_json(out / "results.json", results)
    io.write_text(out / "cases.tsv", table.to_csv(sep="\t", index=False, float_format="%.6g"))
    io.write_text(out / "summary.md", _markdown(results))

    io.write_text(out / "report.html", write_report(results, table, pairs, gallery))
    return results


def _gallery_images(root: Path, deriv: Path, cases, rows: list[dict], threshold: float):
    """MinIP, reference and prediction of the worst cases (lowest Dice) for the report."""
    paths = {pid: path for pid, path, _ in cases}
    worst = sorted(rows, key=lambda r: r["dice"])[:GALLERY]
    images = {}
    for row in worst:
        pid, k = row["participant_id"], row["slice"]
        label = pid.removeprefix("sub-")
        reference, affine = load_canonical(paths[pid])
        minip, _ = load_canonical(deriv / DERIVATIVES["minip"].relpath(label))
        mask, _ = _load_prediction(root, pid, (reference.shape, affine), threshold, [])
        prediction = mask[:, :, k] if mask is not None else np.zeros(reference.shape[:2], bool)
        images[(pid, k)] = (np.asarray(minip[:, :, k], float), reference[:, :, k] > 0, prediction)
    return images


def _markdown(results: dict) -> str:
    seg = results["segmentation"]
    lines = [
        f"# Evaluation of {results['submission']['generated_by'] or 'a submission'}",
        "",
        f"Split `{results['reference']['split']}`, reference rater "
        f"`{results['reference']['rater']}`: {seg['n_cases']} slices, {seg['n_invalid']} "
        "scored as worst case.",
        "",
        "| score | mean | 95 % CI | median |",
        "|---|---|---|---|",
    ]
    for name, s in seg["overall"].items():
        lines.append(
            f"| {name} | {s['mean']:.3f} | {s['ci_low']:.3f}-{s['ci_high']:.3f} | "
            f"{s['median']:.3f} |"
        )
    lines += [
        "",
        "## Morphometry agreement with the reference (per slice and hemisphere)",
        "",
        "| hemisphere | measure | n | ICC(A,1) | bias | 95 % limits | MAE |",
        "|---|---|---|---|---|---|---|",
    ]

    def number(value, digits=3):
        return "n/a" if value is None else f"{value:.{digits}f}"

    for side, measures in results.get("morphometry", {}).items():
        for name, a in measures.items():
            lines.append(
                f"| {side} | {name} | {a['n']} | {number(a['icc_a1'])} | {number(a['bias'])} | "
                f"{number(a['loa_low'])} to {number(a['loa_high'])} | {number(a['mae'])} |"
            )
    association = results.get("association", {})
    if "reference" in association:
        score = association["reference"]["reproduction_score"]
        lines += [
            "",
            "## Association reproduction",
            "",
            f"The study's tests on {association['n_participants']} participants: reproduction "
            f"score {'n/a' if score is None else f'{score:.2f}'} against the reference masks"
            + (
                f", {association['published']['reproduction_score']:.2f} against the "
                "published study"
                if association.get("published")
                and association["published"]["reproduction_score"] is not None
                else ""
            )
            + (
                f", {number(association['truth']['reproduction_score'], 2)} against the "
                "generator's truth (the reference masks: "
                f"{number(association['reference_vs_truth']['reproduction_score'], 2)})"
                if association.get("truth")
                else ""
            )
            + ".",
            "",
            "| comparison | measure | hemisphere | Z | Z reference | reproduced |",
            "|---|---|---|---|---|---|",
        ]
        for t in association["reference"]["tests"]:
            lines.append(
                f"| {t['comparison']} | {t['measure']} | {t['hemisphere']} | {number(t['Z'])} | "
                f"{number(t['Z_comparison'])} | {'yes' if t['reproduced'] else 'no'} |"
            )
    human = results.get("human_reference")
    if human:
        lines += [
            "",
            f"Human reference: rater `{human['rater']}` against `{results['reference']['rater']}` "
            f"on {human['n_cases']} of these slices: Dice {human['overall']['dice']['mean']:.3f}, "
            f"clDice {human['overall']['cldice']['mean']:.3f}, HD95 "
            f"{human['overall']['hd95_mm']['mean']:.2f} mm.",
        ]
    if results["problems"]:
        lines += ["", "## Problems", ""] + [f"- {p}" for p in results["problems"]]
    return "\n".join(lines) + "\n"
