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

import filecmp
import json
import logging
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from scvbench import io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.core.agreement import morphometry_agreement
from scvbench.core.metrics import SCORES, segmentation_scores, summarise, worst_case
from scvbench.core.morphometry import hemisphere_means
from scvbench.defaults import DEFAULTS
from scvbench.errors import ScvbenchError
from scvbench.io import load_canonical
from scvbench.parallel import map_participants
from scvbench.report.evaluation import GALLERY, gallery_tiles, summary_markdown, write_report
from scvbench.results import (
    SCHEMA_VERSION,
    CaseScore,
    EvaluationResult,
    ReferenceInfo,
    SegmentationResult,
    SubmissionInfo,
)
from scvbench.steps.evaluate.cases import (
    SPLITS,
    data_checksum,
    dataset_identity,
    linked_dataset,
    load_prediction,
    split_cases,
)
from scvbench.steps.evaluate.morphometry import (
    association_scores,
    human_masks,
    human_slices,
    human_summary,
    morph_pair,
    truth_pairs,
)
from scvbench.steps.evaluate.submission import InvalidSubmission, open_submission
from scvbench.steps.power import evaluation_power

__all__ = ["SCHEMA_VERSION", "WORST", "evaluate"]

#: The folder of the worst cases' tiles (lowest Dice first in ``cases.tsv``), beside results.json.
WORST = "worst"

log = logging.getLogger(__name__)


def evaluate(
    submission: str | Path,
    bids_dir: str | Path | None,
    out: str | Path,
    split: str = "test",
    splits_path: str | Path | None = None,
    rater: str | None = None,
    threshold: float = DEFAULTS.threshold,
    strict: bool = False,
    published: str | None = None,
    human_rater: str | None = None,
    truth: str | Path | None = None,
    key_file: str | Path | None = None,
    derivatives: str | Path | None = None,
    nprocs: int = 1,
    power: bool = False,
) -> EvaluationResult:
    """Score ``submission`` and write ``results.json``, ``cases.tsv`` and ``summary.md``.

    MinIP, brain masks and hemispheres come from the ``scvbench`` derivatives in
    ``derivatives`` (default ``BIDS_DIR/derivatives``).

    Parameters
    ----------
    submission : path
        A folder, ``.zip`` or ``.tar.gz``.
    bids_dir : path, optional
        The derived dataset (default: the one the submission links as raw).
    out : path
        The output folder.
    split : str
        ``test``, ``association`` or ``all``.
    splits_path : path, optional
        The split file.
    rater : str, optional
        The reference rater (default: the split file's).
    threshold : float
        For probseg-only cases.
    strict : bool
        Any problem stops the evaluation (:class:`InvalidSubmission`).
    published : str, optional
        ``"paper"``: compare with the published study.
    human_rater : str, optional
        The rater scored as the human reference.
    truth, key_file : path, optional
        A synthetic cohort's truth and its PatientID key: compare with the truth.
    derivatives : path, optional
        Where the ``scvbench`` derivatives are.
    nprocs : int
        Participants scored in parallel (forked processes); the results do not depend on it.
    power : bool
        Add the power of the study's right-tortuosity test with this submission's error to the
        report (``power.json`` beside it; :func:`scvbench.steps.power.evaluation_power`).

    Returns
    -------
    EvaluationResult
        What ``results.json`` holds; ``cases.tsv``, ``morphometry.tsv`` (the Bland-Altman pairs:
        per slice and hemisphere, each measure of the submission and the reference),
        ``summary.md``, ``report.html`` (with ``power``: ``power.json`` and ``power.png``) and
        the worst cases' tiles (``worst/<participant>_slice-<k>.png``) beside it.
    """
    if split not in SPLITS:
        raise ScvbenchError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    bids_dir = linked_dataset(Path(submission)) if bids_dir is None else Path(bids_dir)
    out = Path(out)
    rater, checksum, cases = split_cases(bids_dir, split, splits_path, rater)
    problems: list[str] = []
    rows, hemi_rows, morph_pairs = [], [], []
    human_rows, human_pairs = [], []  # the second rater's, scored beside the submission
    second_rater, second_masks = human_masks(bids_dir, rater, cases, human_rater)
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
        seconds = [second_masks.get(pid.removeprefix("sub-")) for pid, _, _ in cases]
        jobs = [
            (root, deriv, threshold, str(submission), case, second)
            for case, second in zip(cases, seconds, strict=True)
        ]
        scored = {}
        for job, result, _ in map_participants(
            _score_participant, jobs, nprocs, "evaluate", progress=False
        ):
            scored[job[4][0]] = result
        for pid, _, _ in cases:  # in the split's order, whatever order the workers finished in
            result = scored[pid]
            rows += result["rows"]
            hemi_rows += result["hemispheres"]
            morph_pairs += result["morphometry"]
            human_rows += result["human"]
            human_pairs += result["human_pairs"]
            problems += result["problems"]
        gallery = _gallery_images(root, deriv, cases, rows, threshold)
    human, human_pairs = human_summary(second_rater, human_rows, human_pairs)
    if strict and problems:
        raise InvalidSubmission(
            f"{submission}: {len(problems)} problem(s):\n" + "\n".join(problems)
        )
    table = pd.DataFrame(
        [row.to_json() for row in rows], columns=["participant_id", "slice", "valid", *SCORES]
    )
    hemis = pd.DataFrame(hemi_rows)
    pairs = pd.DataFrame(morph_pairs)
    agreement = morphometry_agreement(pairs)
    if truth is not None:
        if key_file is None:
            raise ScvbenchError("--truth needs --key-file (PatientID to participant key)")
        pairs = truth_pairs(Path(truth), Path(key_file), pairs)
    result = EvaluationResult(
        submission=SubmissionInfo(str(submission), generated_by, configuration),
        reference=ReferenceInfo(
            rater, split, checksum, data_checksum(cases), dataset_identity(bids_dir)
        ),
        problems=tuple(problems),
        segmentation=SegmentationResult(
            n_cases=len(table),
            n_invalid=int((~table["valid"]).sum()) if len(table) else 0,
            overall=summarise(table) if len(table) else {},
            hemispheres={
                side: summarise(hemis[hemis["hemisphere"] == side])
                for side in ("left", "right")
                if len(hemis)
            },
        ),
        morphometry=agreement,
        association=association_scores(bids_dir, pairs, published, truth is not None),
        human_reference=human,
    )
    io.write_json(out / "results.json", result.to_json())
    io.write_text(out / "cases.tsv", table.to_csv(sep="\t", index=False, float_format="%.6g"))
    io.write_text(out / "summary.md", summary_markdown(result))
    text = pairs.to_csv(sep="\t", index=False, float_format="%.6g")
    io.write_text(out / "morphometry.tsv", text)
    written = pd.read_csv(StringIO(text), sep="\t") if len(pairs) else pairs  # as kept
    (out / "morphometry_human.tsv").unlink(missing_ok=True)
    human_written = None
    if len(human_pairs):  # the second rater's pairs: the human reference's measurement error
        text = human_pairs.to_csv(sep="\t", index=False, float_format="%.6g")
        io.write_text(out / "morphometry_human.tsv", text)
        human_written = pd.read_csv(StringIO(text), sep="\t")

    tiles = gallery_tiles(table, gallery)
    for stale in (out / WORST).glob("*.png"):  # a former evaluation's worst cases
        stale.unlink()
    for tile in tiles:
        name = f"{tile['participant_id']}_slice-{tile['slice']}.png"
        io.write_bytes(out / WORST / name, tile["png"])
    # (the leaderboard fits the same files: its power column equals this report's)
    section = evaluation_power(written, human=human_written) if power and len(pairs) else None
    for stale in ("power.json", "power.png"):
        (out / stale).unlink(missing_ok=True)
    if section is not None:
        io.write_json(out / "power.json", {k: v for k, v in section.items() if k != "figure"})
        io.write_bytes(out / "power.png", section["figure"])
    io.write_text(out / "report.html", write_report(result, table, pairs, tiles, section))
    return result


def _score_participant(job) -> dict:
    """One participant's cases: scores (whole brain and per hemisphere) and morphometry pairs.

    ``job`` is ``(submission root, derivatives, threshold, submission name, case, second
    rater's mask or None)``; the result holds plain values only, for a worker process to send
    back. With a second rater's mask its slices are scored too (the human reference), the
    reference's morphometry measured once for both.
    """
    root, deriv, threshold, submission, (pid, ref_path, slices), second = job
    rows, hemi_rows, morph_pairs, problems = [], [], [], []
    arrays: dict[int, tuple] = {}  # reference, brain, hemispheres: for the human reference
    reference_means: dict[int, dict] = {}
    label = pid.removeprefix("sub-")
    reference, affine = load_canonical(ref_path)
    brain, _ = load_canonical(deriv / DERIVATIVES["brain_mask"].relpath(label))
    hemi, _ = load_canonical(deriv / DERIVATIVES["hemispheres"].relpath(label))
    spacing = tuple(float(v) for v in np.linalg.norm(affine[:3, :3], axis=0)[:2])
    mask, predicted = load_prediction(root, pid, (reference.shape, affine), threshold, problems)
    submitted = root / DERIVATIVES["vein_mask"].relpath(label)
    if submitted.is_file() and filecmp.cmp(submitted, ref_path, shallow=False):
        raise InvalidSubmission(
            f"{submission}: {submitted.relative_to(root)} is a byte-for-byte copy of the "
            f"reference mask {ref_path.name}; submit a model's predictions"
        )
    for k in slices:
        ref = reference[:, :, k] > 0
        b = brain[:, :, k] > 0
        arrays[k] = (ref, b, hemi[:, :, k])
        reference_means[k] = hemisphere_means(ref & b, spacing, hemi[:, :, k])
        usable = mask is not None and (predicted is None or k in predicted)
        if mask is not None and not usable:
            problems.append(f"{pid}: slice {k} is not among the PredictedSlices")
        prediction = mask[:, :, k] if usable else None
        morph_pairs.extend(
            morph_pair(
                pid,
                k,
                prediction & b if usable else np.zeros_like(ref),
                ref & b,
                hemi[:, :, k],
                spacing,
                reference_means[k],
            )
        )
        scores = (
            segmentation_scores(prediction, ref, b, spacing)
            if usable
            else worst_case(ref & b, spacing)
        )
        rows.append(CaseScore(pid, k, usable, scores))
        for code, side in ((1, "left"), (2, "right")):
            region = b & (hemi[:, :, k] == code)
            scores = (
                segmentation_scores(prediction, ref, region, spacing)
                if usable
                else worst_case(ref & region, spacing)
            )
            hemi_rows.append({"participant_id": pid, "slice": k, "hemisphere": side, **scores})
    human, human_pairs = (
        human_slices(pid, second, arrays, spacing, reference_means) if second else ([], [])
    )
    return {
        "rows": rows,
        "hemispheres": hemi_rows,
        "morphometry": morph_pairs,
        "human": human,
        "human_pairs": human_pairs,
        "problems": problems,
    }


def _gallery_images(root: Path, deriv: Path, cases, rows: list[CaseScore], threshold: float):
    """MinIP, reference and prediction of the worst cases (lowest Dice) for the report."""
    paths = {pid: path for pid, path, _ in cases}
    worst = sorted(rows, key=lambda r: r.scores["dice"])[:GALLERY]
    images = {}
    for row in worst:
        pid, k = row.participant_id, row.slice
        label = pid.removeprefix("sub-")
        reference, affine = load_canonical(paths[pid])
        minip, _ = load_canonical(deriv / DERIVATIVES["minip"].relpath(label))
        mask, _ = load_prediction(root, pid, (reference.shape, affine), threshold, [])
        prediction = mask[:, :, k] if mask is not None else np.zeros(reference.shape[:2], bool)
        images[(pid, k)] = (np.asarray(minip[:, :, k], float), reference[:, :, k] > 0, prediction)
    return images
