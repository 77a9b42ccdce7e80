"""``scvbench run``: the BIDS-App entry point, what the container runs.

``scvbench run BIDS_DIR OUTPUT_DIR participant`` derives, segments, measures and reports the
named participants; ``scvbench run BIDS_DIR OUTPUT_DIR group`` then gathers them. The raw dataset
is only read (mount it read-only); ``OUTPUT_DIR`` takes the place of ``BIDS_DIR/derivatives``:

- ``scvbench/``: MinIP, brain and hemisphere masks and QC pages (as ``scvbench derive``);
- ``<model>/``: the vein masks and probabilities (a submission ``scvbench evaluate`` scores) and
  per-participant morphometry ``sub-<label>/anat/sub-<label>_acq-swi_desc-scv_morph.tsv``;
  the group level adds the group table ``acq-swi_desc-scv_morph.tsv``;
- ``sub-<label>.html``: the participant's report (veins on the analysis slice, morphometry);
- ``logs/sub-<label>.json``: what the participant was run with; a re-run with the same inputs,
  model and settings skips it;
- ``group/stats/`` (``scvbench stats``), ``group/evaluation/`` (``scvbench evaluate``, when the
  dataset has reference masks) and ``group_report.html``.

Participant runs for different participants may run at once into one ``OUTPUT_DIR`` (one SLURM
array task each, see :mod:`scvbench.app.slurm`): every file is written atomically, each participant
is computed in its own work folder, and the shared files are identical whoever writes them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from scvbench import __version__, io
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.errors import ScvbenchError
from scvbench.models.checkpoint import load_checkpoint
from scvbench.report.run import GROUP_DIR, group_report, participant_report
from scvbench.steps.convert.validate import require_valid
from scvbench.steps.derive import Settings, copy_derived, derivation_state, derive_dataset
from scvbench.steps.evaluate import evaluate
from scvbench.steps.morph import GROUP_FILE, morph_participant, write_table
from scvbench.steps.predict import predict
from scvbench.steps.splits import SPLITS_FILE, load_splits, reference_masks
from scvbench.steps.stats import run_stats
from scvbench.steps.train import untrained_state

__all__ = ["LEVELS", "RunOptions", "RunReport", "estimate_memory_gb", "run"]

log = logging.getLogger(__name__)

LEVELS = ("participant", "group")
LOGS = "logs"
GROUP_REPORT = "group_report.html"


@dataclass(frozen=True)
class RunOptions:
    """The BIDS-App's arguments (see ``scvbench run --help``)."""

    bids_dir: Path
    output_dir: Path
    level: str
    participant_labels: list[str] | None = None
    skip_bids_validation: bool = False
    work_dir: Path | None = None
    nprocs: int = 1
    mem_gb: float | None = None
    checkpoint: Path | None = None
    model: str | None = None
    slab_mm: float = 20.0
    step_mm: float = 1.0
    threshold: float = 0.5
    overwrite: bool = False
    dry_run: bool = False


@dataclass
class RunReport:
    """What a run did: participants processed, up to date, failed; plan lines; warnings.

    ``reused``: participants whose derivatives were copied from ``BIDS_DIR/derivatives``.
    """

    done: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    plan: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)


def _check_folders(options: RunOptions) -> tuple[Path, Path]:
    bids, out = options.bids_dir.resolve(), options.output_dir.resolve()
    if not (bids / "dataset_description.json").is_file():
        raise ScvbenchError(
            f"{options.bids_dir}: not a BIDS dataset (no dataset_description.json); give the raw "
            "dataset made by scvbench convert"
        )
    if out == bids or out in bids.parents:
        raise ScvbenchError(
            f"{options.output_dir}: OUTPUT_DIR must not be the BIDS dataset or hold it; use "
            "another folder"
        )
    if out.exists() and not out.is_dir():
        raise ScvbenchError(f"{options.output_dir}: exists and is not a folder")
    return bids, out


@dataclass(frozen=True)
class _Model:
    name: str
    identity: str  # checkpoint SHA-256 or "<name>:default"
    state: dict
    source: str


def _load_model(options: RunOptions) -> _Model:

    if options.checkpoint is not None:
        state = load_checkpoint(options.checkpoint)
        digest = layout.sha256(options.checkpoint)
        return _Model(state["config"]["model"], digest, state, str(options.checkpoint))
    if options.model is not None:
        state = untrained_state(options.model)
        return _Model(options.model, f"{options.model}:default", state, "default parameters")
    raise ScvbenchError(
        "the participant level needs a model: --checkpoint RUN/model_best.pt (from "
        "scvbench train) or --model frangi (needs no training)"
    )


def estimate_memory_gb(bids: Path, label: str) -> float:
    """Peak memory of running one participant, from the size of its SWI image.

    0.5 GB (the interpreter with numpy, scipy, numba and torch) plus 48 bytes per SWI voxel: a
    line through the measured peak resident memory of one participant (``--model frangi``,
    ``--nprocs 1``): 0.68 GB for the demo preset's 256 x 256 x 64 SWI, 0.89 GB for the paper
    preset's 352 x 352 x 72.
    """

    swi = layout.raw_path(bids, label, "swi") or layout.raw_path(bids, label, "mag")
    voxels = int(np.prod(nib.load(swi).shape[:3]))
    return 0.5 + 48 * voxels / 1e9


def _workers(options: RunOptions, bids: Path, labels: list[str], report: RunReport) -> int:
    """Participants derived at once: ``--nprocs``, fewer when ``--mem`` would be exceeded."""
    workers = max(1, min(options.nprocs, len(labels)))
    if options.mem_gb is not None and labels:
        need = max(estimate_memory_gb(bids, label) for label in labels)
        fits = int(options.mem_gb // need)
        if fits < 1:
            report.notes.append(
                f"--mem {options.mem_gb:g} GB is below the {need:.1f} GB one participant needs; "
                "running one at a time"
            )
        if max(1, fits) < workers:
            report.notes.append(
                f"--mem {options.mem_gb:g} GB allows {max(1, fits)} participant(s) at once "
                f"({need:.1f} GB each), not {workers}"
            )
        workers = max(1, min(workers, fits))
    return workers


def _inputs(bids: Path, label: str, model: _Model, options: RunOptions) -> dict:
    """Everything a participant's outputs depend on (compared on a re-run)."""
    state = derivation_state(bids, label, Settings(options.slab_mm, options.step_mm))
    return {
        "scvbench": __version__,
        "sources": state["SourceChecksums"],
        "slab_mm": float(options.slab_mm),
        "step_mm": float(options.step_mm),
        "model": model.name,
        "model_identity": model.identity,
        "threshold": float(options.threshold),
    }


def _run_outputs(label: str, model: str) -> list[str]:
    return [
        f"scvbench/{DERIVATIVES['minip'].relpath(label)}",
        f"{model}/{DERIVATIVES['vein_mask'].relpath(label)}",
        f"{model}/{DERIVATIVES['morphometry'].relpath(label)}",
        f"sub-{label}.html",
    ]


def _record(out: Path, label: str) -> dict | None:
    try:
        return json.loads((out / LOGS / f"sub-{label}.json").read_text())
    except (OSError, ValueError):
        return None


def _up_to_date(out: Path, label: str, inputs: dict) -> bool:
    record = _record(out, label)
    return (
        record is not None
        and record.get("inputs") == inputs
        and all((out / rel).is_file() for rel in record.get("outputs", []))
    )


def _check_model_dataset(out: Path, model: _Model, overwrite: bool) -> None:
    """One prediction dataset holds one model's masks: refuse to mix in another checkpoint."""
    others = {}
    for path in sorted((out / LOGS).glob("sub-*.json")):
        record = _record(out, path.stem.removeprefix("sub-")) or {}
        inputs = record.get("inputs", {})
        if inputs.get("model") == model.name and inputs.get("model_identity") != model.identity:
            others[path.stem] = inputs.get("model_identity")
    if others and not overwrite:
        first = next(iter(others))
        raise ScvbenchError(
            f"{out / model.name}: {len(others)} participant(s) (first {first}) were segmented by "
            f"another {model.name} ({others[first]}); pass --overwrite to redo them with this "
            "one, or use another OUTPUT_DIR"
        )


def _participant(options: RunOptions, report: RunReport) -> RunReport:

    bids, out = _check_folders(options)
    labels = layout.find_participants(bids, options.participant_labels)
    model = _load_model(options)
    todo = []
    for label in labels:
        inputs = _inputs(bids, label, model, options)
        if not options.overwrite and _up_to_date(out, label, inputs):
            report.up_to_date.append(f"sub-{label}")
            report.plan.append(f"sub-{label}: up to date, skipped")
        else:
            todo.append((label, inputs))
            report.plan.append(
                f"sub-{label}: derive -> {out / 'scvbench'}, segment ({model.name}, "
                f"{model.source}) -> {out / model.name}, morphometry, report "
                f"{out / f'sub-{label}.html'}"
            )
    workers = _workers(options, bids, [label for label, _ in todo], report)
    report.plan.append(f"{len(todo)} participant(s) to run, {workers} at a time")
    if options.dry_run or not todo:
        return report
    if not options.skip_bids_validation:
        require_valid(bids)
    _check_model_dataset(out, model, options.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(options.work_dir) if options.work_dir else None
    own_work = work is None
    if own_work:
        work = Path(tempfile.mkdtemp(prefix="scvbench-work-"))
    try:
        started = time.perf_counter()
        if not options.overwrite:
            reused = copy_derived(
                bids,
                layout.derivative_dir(bids, "scvbench"),
                out / "scvbench",
                [label for label, _ in todo],
                Settings(options.slab_mm, options.step_mm),
            )
            report.reused = [f"sub-{label}" for label in reused]
        derived = derive_dataset(
            bids,
            [label for label, _ in todo],
            slab_mm=options.slab_mm,
            step_mm=options.step_mm,
            nprocs=workers,
            overwrite=options.overwrite,
            progress=False,
            derivatives=out,
            work_dir=work / "derive",
        )
        for label, reason in derived.failed.items():
            report.failed[f"sub-{label}"] = f"derive: {reason}"
        for label, inputs in todo:
            if f"sub-{label}" in report.failed:
                continue
            try:
                _segment_and_measure(bids, out, label, inputs, model, options)
                report.done.append(f"sub-{label}")
            except ScvbenchError as err:
                report.failed[f"sub-{label}"] = str(err)
            except Exception as err:  # one participant's failure must not stop the others
                report.failed[f"sub-{label}"] = f"{type(err).__name__}: {err}"
        log.info("participant level: %.1f s", time.perf_counter() - started)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    report.outputs = {"output": out, "model": out / model.name}
    return report


def _segment_and_measure(
    bids: Path, out: Path, label: str, inputs: dict, model: _Model, options: RunOptions
) -> None:
    import torch

    started = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, options.nprocs))
    try:
        predict(
            bids,
            model.state if options.checkpoint is None else options.checkpoint,
            out / model.name,
            participants=[label],
            threshold=options.threshold,
            progress=False,
            derivatives=out,
        )
    finally:
        torch.set_num_threads(threads)
    mask = out / model.name / DERIVATIVES["vein_mask"].relpath(label)
    vessels, summary = morph_participant(label, mask, out / "scvbench", out / model.name)
    participant_report(bids, out, label, model.name, model.identity, vessels, summary)
    seconds = round(time.perf_counter() - started, 2)
    io.write_json(
        out / LOGS / f"sub-{label}.json",
        {
            "participant_id": f"sub-{label}",
            "inputs": inputs,
            "outputs": _run_outputs(label, model.name),
            "seconds_segment_measure_report": seconds,
        },
    )


def _finished(out: Path, labels: list[str] | None) -> dict[str, dict]:
    records = {}
    for path in sorted((out / LOGS).glob("sub-*.json")):
        label = path.stem.removeprefix("sub-")
        record = _record(out, label)
        if record is not None and all((out / rel).is_file() for rel in record["outputs"]):
            records[label] = record
    if labels is not None:
        wanted = [label.removeprefix("sub-") for label in labels]
        missing = [label for label in wanted if label not in records]
        if missing:
            raise ScvbenchError(
                f"{out}: sub-{missing[0]} has not finished the participant level"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; run it first"
            )
        records = {label: records[label] for label in wanted}
    if not records:
        raise ScvbenchError(
            f"{out}: no participant has finished the participant level; run scvbench run "
            "BIDS_DIR OUTPUT_DIR participant first"
        )
    return records


def _unprocessed(bids: Path, split: str, labels: list[str]) -> list[str]:
    """Participants the evaluation of ``split`` needs that the participant level has not run."""
    if split == "all":
        wanted = [f"sub-{label}" for label in sorted(reference_masks(bids)[1])]
    else:
        wanted = list(load_splits(bids / SPLITS_FILE)[split])
    done = {f"sub-{label}" for label in labels}
    return [pid for pid in wanted if pid not in done]


def _group(options: RunOptions, report: RunReport) -> RunReport:

    bids, out = _check_folders(options)
    records = _finished(out, options.participant_labels)
    models = sorted(
        {(r["inputs"]["model"], r["inputs"]["model_identity"]) for r in records.values()}
    )
    if options.checkpoint is not None or options.model is not None:
        chosen = _load_model(options)
        models = [m for m in models if m == (chosen.name, chosen.identity)]
        if not models:
            raise ScvbenchError(
                f"{out}: no participant was segmented by {chosen.name} ({chosen.source})"
            )
    if len(models) > 1:
        shown = ", ".join(f"{name} ({identity[:12]})" for name, identity in models)
        raise ScvbenchError(
            f"{out}: participants were segmented by different models ({shown}); choose one with "
            "--checkpoint or --model"
        )
    name, identity = models[0]
    labels = [k for k, r in records.items() if r["inputs"]["model_identity"] == identity]
    model_dir = out / name
    phenotype = bids / "phenotype" / "fazekas.tsv"
    has_references = any((bids / "derivatives" / "annotations").glob("sub-*/anat/*_mask.nii.gz"))
    split = "test" if (bids / SPLITS_FILE).is_file() else "all"
    report.plan = [
        f"group morphometry of {len(labels)} participant(s) ({name}) -> {model_dir / GROUP_FILE}",
        f"statistics -> {out / GROUP_DIR / 'stats'}"
        + ("" if phenotype.is_file() else " (no phenotype/fazekas.tsv: sex comparisons only)"),
        f"evaluation against the reference masks ({split} split) -> "
        f"{out / GROUP_DIR / 'evaluation'}"
        if has_references
        else "no evaluation: the dataset has no reference masks (derivatives/annotations)",
        f"group report -> {out / GROUP_REPORT}",
    ]
    if options.dry_run:
        return report
    summaries = []
    for label in labels:
        mask = model_dir / DERIVATIVES["vein_mask"].relpath(label)
        _, summary = morph_participant(label, mask, out / "scvbench", model_dir)
        summaries.append(summary)
    table = pd.concat(summaries, ignore_index=True)
    write_table(model_dir / GROUP_FILE, table)
    stats, evaluation = None, None

    try:
        stats = run_stats(
            model_dir / GROUP_FILE,
            bids / "participants.tsv",
            out / GROUP_DIR / "stats",
            phenotype if phenotype.is_file() else None,
        )
    except ScvbenchError as err:
        report.notes.append(f"statistics not run: {err}")
    missing = _unprocessed(bids, split, labels) if has_references else []
    if missing:
        report.notes.append(
            f"evaluation not run: {len(missing)} participant(s) of the {split} split have not "
            f"been run at the participant level ({', '.join(missing[:5])}"
            + (" ..." if len(missing) > 5 else "")
            + ")"
        )
    elif has_references:
        try:
            evaluation = evaluate(
                model_dir, bids, out / GROUP_DIR / "evaluation", split=split, derivatives=out
            )
        except ScvbenchError as err:
            report.notes.append(f"evaluation not run: {err}")
    report.outputs = {
        "group_report": group_report(
            bids, out, name, identity, table, stats, evaluation, report.notes
        ),
        "morphometry": model_dir / GROUP_FILE,
    }
    report.done = [f"sub-{label}" for label in labels]
    return report


def run(options: RunOptions) -> RunReport:
    """Run one analysis level of the BIDS-App; see the module's description."""
    if options.level not in LEVELS:
        raise ScvbenchError(f"analysis level must be participant or group, got {options.level!r}")
    if not 0.0 < options.threshold < 1.0:
        raise ScvbenchError(f"--threshold must be between 0 and 1, got {options.threshold}")
    report = RunReport()
    if options.level == "participant":
        return _participant(options, report)
    return _group(options, report)


def default_threads() -> int:
    """CPUs this process may use (the SLURM allocation or affinity mask, not the whole node)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
