"""The BIDS-App's participant level: derive, segment, measure and report each participant."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path

from scvbench import __version__, io
from scvbench.app.options import (
    LOGS,
    Model,
    RunOptions,
    RunReport,
    check_folders,
    load_model,
    participant_workers,
)
from scvbench.bids import layout
from scvbench.bids.spec import DERIVATIVES
from scvbench.errors import ScvbenchError
from scvbench.report.run import participant_report
from scvbench.steps.convert.validate import require_valid
from scvbench.steps.derive import Settings, copy_derived, derivation_state, derive_dataset
from scvbench.steps.morph import morph_participant
from scvbench.steps.predict import predict
from scvbench.workspace import private_tempdir

# torch is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["read_record", "run_participants"]

log = logging.getLogger(__name__)


def read_record(out: Path, label: str) -> dict | None:
    """What the participant was last run with (``logs/sub-<label>.json``), or None."""
    try:
        return json.loads((out / LOGS / f"sub-{label}.json").read_text())
    except (OSError, ValueError):
        return None


def _inputs(bids: Path, label: str, model: Model, options: RunOptions) -> dict:
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


def _up_to_date(out: Path, label: str, inputs: dict) -> bool:
    record = read_record(out, label)
    return (
        record is not None
        and record.get("inputs") == inputs
        and all((out / rel).is_file() for rel in record.get("outputs", []))
    )


def _check_model_dataset(out: Path, model: Model, overwrite: bool) -> None:
    """One prediction dataset holds one model's masks: refuse to mix in another checkpoint."""
    others = {}
    for path in sorted((out / LOGS).glob("sub-*.json")):
        record = read_record(out, path.stem.removeprefix("sub-")) or {}
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


def run_participants(options: RunOptions, report: RunReport) -> RunReport:
    """The participant level: derive, segment, measure and report each participant named."""
    bids, out = check_folders(options)
    labels = layout.find_participants(bids, options.participant_labels)
    model = load_model(options)
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
    workers = participant_workers(options, bids, [label for label, _ in todo], report)
    report.plan.append(f"{len(todo)} participant(s) to run, {workers} at a time")
    if options.dry_run or not todo:
        return report
    if not options.skip_bids_validation:
        require_valid(bids)
    _check_model_dataset(out, model, options.overwrite)
    out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        work = Path(options.work_dir) if options.work_dir else None
        if work is None:  # private, and swept by the next run if this one is killed
            work = stack.enter_context(private_tempdir("work"))
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
    report.outputs = {"output": out, "model": out / model.name}
    return report


def _segment_and_measure(
    bids: Path, out: Path, label: str, inputs: dict, model: Model, options: RunOptions
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
