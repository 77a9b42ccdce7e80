"""The BIDS-App's group level: group morphometry, the study's statistics, evaluation, report."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from scvbench.app.options import (
    GROUP_REPORT,
    LOGS,
    RunOptions,
    RunReport,
    check_folders,
    load_model,
)
from scvbench.app.participant import read_record
from scvbench.bids.spec import DERIVATIVES
from scvbench.errors import ScvbenchError
from scvbench.report.run import GROUP_DIR, group_report
from scvbench.steps.evaluate import evaluate
from scvbench.steps.morph import GROUP_FILE, morph_participant, write_table
from scvbench.steps.splits import SPLITS_FILE, load_splits, reference_masks
from scvbench.steps.stats import run_stats

__all__ = ["run_group"]

log = logging.getLogger(__name__)


def _finished(out: Path, labels: list[str] | None) -> dict[str, dict]:
    records = {}
    for path in sorted((out / LOGS).glob("sub-*.json")):
        label = path.stem.removeprefix("sub-")
        record = read_record(out, label)
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


def run_group(options: RunOptions, report: RunReport) -> RunReport:
    """The group level: group table, statistics, evaluation when possible, group report."""
    bids, out = check_folders(options)
    records = _finished(out, options.participant_labels)
    models = sorted(
        {(r["inputs"]["model"], r["inputs"]["model_identity"]) for r in records.values()}
    )
    if options.checkpoint is not None or options.model is not None:
        chosen = load_model(options)
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
