"""Morphometry of a submission beside the reference, the truth and a second rater."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scvbench.bids.keys import read_key
from scvbench.bids.spec import parse
from scvbench.bids.tables import load_covariates
from scvbench.core.agreement import morphometry_agreement
from scvbench.core.association import compare, participant_table, reproduction
from scvbench.core.metrics import segmentation_scores, summarise
from scvbench.core.morphometry import hemisphere_means
from scvbench.core.stats import run_study
from scvbench.errors import ScvbenchError
from scvbench.io import load_canonical
from scvbench.steps.splits import labelled_slices, reference_masks

MEASURES = ("count", "diameter_mm", "tortuosity")


def truth_pairs(truth_dir: Path, key_file: Path, pairs: pd.DataFrame) -> pd.DataFrame:
    """The generator's measured truth for the cases of ``pairs`` (``<measure>_truth`` columns).

    ``truth_dir`` is a synthetic cohort's ``truth/`` folder (``morphometry.tsv``, keyed by
    PatientID and MinIP slice), ``key_file`` the PatientID-to-participant key of ``convert``.

    Parameters
    ----------
    truth_dir : Path
        A synthetic cohort's ``truth/`` folder.
    key_file : Path
        The PatientID-to-participant key of ``convert``.
    pairs : DataFrame
        Per case and hemisphere, the submission's and reference's measures.

    Returns
    -------
    DataFrame
        ``pairs`` with ``<measure>_truth`` columns.
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


def association_scores(
    bids_dir: Path, pairs: pd.DataFrame, published: str | None, with_truth: bool = False
) -> dict:
    """The study's statistics on the submission's and the reference's morphometry, compared.

    Parameters
    ----------
    bids_dir : Path
        The dataset with ``participants.tsv`` (and ``phenotype/fazekas.tsv``).
    pairs : DataFrame
        Per case and hemisphere measures of each source.
    published : str, optional
        ``"paper"`` to compare with the published study too.
    with_truth : bool
        ``pairs`` has truth columns: compare with the truth too.

    Returns
    -------
    dict
        The ``association`` part of ``results.json``.
    """
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


def morph_pair(
    pid, k, prediction, reference, hemispheres, spacing, reference_means=None
) -> list[dict]:
    """Per-hemisphere count, mean diameter and tortuosity of one slice, predicted and reference.

    Parameters
    ----------
    pid : str
        ``sub-<label>``.
    k : int
        The MinIP slice.
    prediction, reference : ndarray of bool
        The slice's masks inside the brain.
    hemispheres : ndarray
        The slice's hemisphere labels.
    spacing : tuple of float
        Pixel size in mm.
    reference_means : dict, optional
        ``hemisphere_means(reference, spacing, hemispheres)`` where already computed.

    Returns
    -------
    list of dict
        One row per hemisphere: ``<measure>_reference`` and ``<measure>_submission``.
    """
    if reference_means is None:
        reference_means = hemisphere_means(reference, spacing, hemispheres)
    sources = {
        "reference": reference_means,
        "submission": hemisphere_means(prediction, spacing, hemispheres),
    }
    return [
        {
            "participant_id": pid,
            "slice": k,
            "hemisphere": side,
            **{
                f"{measure}_{source}": sources[source][side][measure]
                for measure in MEASURES
                for source in sources
            },
        }
        for side in ("left", "right")
    ]


def human_masks(
    bids_dir: Path, rater: str, cases, human_rater: str | None = None
) -> tuple[str | None, dict[str, Path]]:
    """The second rater scored as the human reference, and their masks by participant label.

    ``human_rater`` defaults to the first other rater (alphabetically) who labelled every
    case's slices.

    Parameters
    ----------
    bids_dir : Path
        The derived dataset.
    rater : str
        The reference rater.
    cases : list of tuple
        The evaluation's cases ``(participant, reference mask, slices)``.
    human_rater : str, optional
        The second rater.

    Returns
    -------
    str or None
        The second rater (None: nobody else labelled every case's slices).
    dict
        Participant label -> the second rater's mask (empty without one).
    """
    root = bids_dir / "derivatives" / "annotations"
    others = (
        [human_rater]
        if human_rater
        else sorted(
            {parse(p).get("desc") for p in root.glob("sub-*/anat/*_desc-*_mask.nii.gz")} - {rater}
        )
    )
    for candidate in others:
        _, found = reference_masks(bids_dir, candidate)
        if all(
            pid.removeprefix("sub-") in found
            and set(slices) <= set(labelled_slices(found[pid.removeprefix("sub-")]))
            for pid, _, slices in cases
        ):
            return candidate, found
    return None, {}


def human_slices(
    pid: str, second_path: Path, arrays: dict, spacing: tuple, reference_means: dict
) -> tuple[list[dict], list[dict]]:
    """The second rater's scores and morphometry pairs on one participant's slices.

    Parameters
    ----------
    pid : str
        ``sub-<label>``.
    second_path : Path
        The second rater's mask.
    arrays : dict
        Slice -> ``(reference, brain, hemispheres)`` 2-D arrays of the slices scored.
    spacing : tuple of float
        The pixel size ``reference_means`` were computed with.
    reference_means : dict
        Slice -> the reference's ``hemisphere_means`` inside the brain (computed again where
        the second mask's pixel size differs).

    Returns
    -------
    rows : list of dict
        :func:`segmentation_scores` of each slice.
    pairs : list of dict
        :func:`morph_pair` rows of each slice (the second rater as the submission).
    """
    second, affine = load_canonical(second_path)
    own = tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0)[:2])
    known = reference_means if own == tuple(spacing) else {}
    rows, pairs = [], []
    for k, (reference_k, brain_k, hemi_k) in arrays.items():
        second_k = second[:, :, k] > 0
        rows.append(segmentation_scores(second_k, reference_k, brain_k, own))
        pairs += morph_pair(
            pid, k, second_k & brain_k, reference_k & brain_k, hemi_k, own, known.get(k)
        )
    return rows, pairs


def human_summary(other: str | None, rows: list, pairs: list) -> tuple[dict | None, pd.DataFrame]:
    """The human reference's summary from its per-slice scores and morphometry pairs.

    Parameters
    ----------
    other : str or None
        The second rater.
    rows, pairs : list of dict
        :func:`human_slices`' results of every case, in the split's order.

    Returns
    -------
    dict or None
        ``rater``, ``n_cases``, ``overall`` scores and ``morphometry`` agreement, or None
        without a second rater.
    DataFrame
        The second rater's morphometry pairs (empty without one).
    """
    if other is None or not rows:
        return None, pd.DataFrame()
    pairs = pd.DataFrame(pairs)
    agreement = morphometry_agreement(pairs)
    summary = {
        "rater": other,
        "n_cases": len(rows),
        "overall": {name: value.to_json() for name, value in summarise(pd.DataFrame(rows)).items()},
        "morphometry": {
            side: {measure: value.to_json() for measure, value in measures.items()}
            for side, measures in agreement.items()
        },
    }
    return summary, pairs
