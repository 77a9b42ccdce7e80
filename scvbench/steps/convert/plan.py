"""What a conversion will do: DICOM series found, classified and named, per participant."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from scvbench.bids.keys import assign_labels
from scvbench.bids.spec import RAW
from scvbench.errors import ScvbenchError
from scvbench.steps.convert.series import (
    BUILTIN_RULES,
    FIELDS,
    USED_KINDS,
    Classification,
    Rule,
    SeriesInfo,
    Skipped,
    classify,
    find_series,
)

__all__ = ["ParticipantPlan", "format_plan", "load_rules", "plan"]

log = logging.getLogger(__name__)


@dataclass
class ParticipantPlan:
    """What converting one patient will do."""

    patient_id: str
    label: str
    series: list[tuple[SeriesInfo, Classification, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def chosen(self) -> dict[str, SeriesInfo]:
        """The series converted, by kind."""
        return {c.kind: s for s, c, target in self.series if target is not None}


def load_rules(config: Path | None) -> tuple[Rule, ...]:
    """Rules from a JSON config (``{"rules": [{"kind": ..., "match": {field: regex}}]}``) first.

    Parameters
    ----------
    config : Path, optional
        The JSON file of ``--config``.

    Returns
    -------
    tuple of Rule
        The config's rules, then the built-in table.
    """
    if config is None:
        return BUILTIN_RULES
    try:
        data = json.loads(Path(config).read_text())
        rules = tuple(
            Rule(item["kind"], tuple(item["match"].items()), item.get("note", "config rule"))
            for item in data["rules"]
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ScvbenchError(
            f"{config}: not a valid rule file ({err}); expected "
            '{"rules": [{"kind": "swi", "match": {"SeriesDescription": "regex"}}]}'
        ) from None
    for number, rule in enumerate(rules, start=1):
        for name, pattern in rule.conditions:
            if name not in FIELDS:
                raise ScvbenchError(
                    f"{config}: rule {number} matches field {name!r}; use one of "
                    f"{', '.join(FIELDS)}"
                )
            try:
                re.compile(str(pattern))
            except re.error as err:
                raise ScvbenchError(
                    f"{config}: rule {number}: {pattern!r} is not a regular expression ({err}); "
                    "fix it (Python re syntax)"
                ) from None
        if rule.kind is not None and rule.kind not in (*USED_KINDS, "mip"):
            raise ScvbenchError(
                f"{config}: unknown kind {rule.kind!r}; use one of "
                f"{', '.join((*USED_KINDS, 'mip'))} or null"
            )
    return rules + BUILTIN_RULES


def plan(
    dicom_dir: Path,
    rules: tuple[Rule, ...] = BUILTIN_RULES,
    mapping: dict[str, str] | None = None,
    key: dict[str, str] | None = None,
    existing: set[str] | frozenset[str] = frozenset(),
) -> tuple[list[ParticipantPlan], list[Skipped]]:
    """Find, classify and name every series under ``dicom_dir``, one plan per patient.

    Parameters
    ----------
    dicom_dir : Path
        Folder of DICOM files, any nesting.
    rules : tuple of Rule
        Series classification rules.
    mapping : dict, optional
        PatientID to participant label (default: sequential labels).
    key : dict, optional
        The key file of earlier runs: its labels are kept.
    existing : set of str
        Labels of the participants already in the dataset.

    Returns
    -------
    plans : list of ParticipantPlan
        One per patient, with each series' kind, BIDS name or reason to skip.
    skipped : list of Skipped
        Files that are not DICOM images, with the reason.
    """
    series, skipped = find_series(dicom_dir)
    by_patient: dict[str, list[SeriesInfo]] = {}
    for s in series:
        by_patient.setdefault(s.patient_id, []).append(s)
    labels = assign_labels(list(by_patient), mapping, key, existing)
    plans = []
    for patient_id, items in sorted(by_patient.items(), key=lambda kv: labels[kv[0]]):
        p = ParticipantPlan(patient_id, labels[patient_id])
        classified = [(s, classify(s, rules)) for s in items]
        last = {}
        for s, c in classified:
            if c.used:
                last[c.kind] = s  # a repeated scan: the last one wins
        for s, c in classified:
            if c.used and last[c.kind] is s:
                p.series.append((s, c, RAW[c.kind].relpath(p.label)))
            elif c.used:
                note = f"repeat of {c.kind}; series {last[c.kind].number} is used"
                p.series.append((s, Classification(None, note), None))
            else:
                p.series.append((s, c, None))
        if "swi" not in last and "mag" not in last:
            p.problems.append("no SWI series (processed SWI or magnitude) found")
        for kind, s in last.items():
            missing = s.missing_instances()
            if missing:
                p.problems.append(
                    f"series {s.number} ({kind}) in {s.files[0].parent} lacks instance(s) "
                    f"{', '.join(map(str, missing[:5]))}: a slice is missing; export it again"
                )
        p.problems.extend(_short_series(last))
        sexes = {s.sex for s in items if s.sex}
        ages = {s.age for s in items if s.age is not None}
        if len(sexes) > 1 or (ages and max(ages) - min(ages) > 1):
            p.problems.append(
                f"conflicting patient data across series (sex {sorted(sexes)}, age "
                f"{sorted(ages)}): do two people share one PatientID?"
            )
        plans.append(p)
    return plans, skipped


def _short_series(chosen: dict[str, SeriesInfo]) -> list[str]:
    """A series of the SWI acquisition with fewer images than its siblings lost its last slices.

    Magnitude, phase and processed SWI of one acquisition have one image per slice each.
    """
    family = {k: s for k, s in chosen.items() if k in ("swi", "mag", "phase")}
    if len(family) < 2:
        return []
    most = max(len(s.files) for s in family.values())
    longest = next(s for s in family.values() if len(s.files) == most)
    return [
        f"series {s.number} ({kind}) in {s.files[0].parent} has {len(s.files)} images where "
        f"series {longest.number} of the same SWI acquisition has {most}: the last slice(s) "
        "are missing; export it again"
        for kind, s in family.items()
        if len(s.files) < most and not s.missing_instances()
    ]


def format_plan(plans: list[ParticipantPlan], skipped: list[Skipped]) -> str:
    """The plan as text: one line per series, ``->`` a BIDS name or ``skip:`` the reason.

    Parameters
    ----------
    plans : list of ParticipantPlan
        From :func:`plan`.
    skipped : list of Skipped
        Files skipped.

    Returns
    -------
    str
        The text ``--dry-run`` prints.
    """
    lines = []
    for p in plans:
        lines.append(f"sub-{p.label}:")
        for s, c, target in p.series:
            what = f"-> {target}" if target else f"skip: {c.reason}"
            lines.append(
                f"  series {s.number:>3} {s.description!r:<32} ({len(s.files)} files) {what}"
            )
        lines.extend(f"  problem: {problem}" for problem in p.problems)
    if skipped:
        lines.append(f"{len(skipped)} file(s) not in any series:")
        lines.extend(f"  {k.path}: {k.reason}" for k in skipped)
    return "\n".join(lines)
