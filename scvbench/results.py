"""Result records: what ``scvbench evaluate`` finds, as frozen values with a JSON form.

``EvaluationResult.to_json()`` is the ``results.json`` document (schema 1.0, the same keys in
the same order as before the records existed) and ``EvaluationResult.from_json()`` reads it
back, so that the leaderboard, the reports and the BIDS-App pass records, not nested dicts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SCHEMA_VERSION",
    "Agreement",
    "CaseScore",
    "EvaluationResult",
    "ReferenceInfo",
    "ScoreSummary",
    "SegmentationResult",
    "SubmissionInfo",
]

#: Version of the ``results.json`` schema.
SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class ScoreSummary:
    """One score over the cases: mean, median and the bootstrap 95 % CI of the mean."""

    mean: float
    median: float
    ci_low: float
    ci_high: float

    def to_json(self) -> dict[str, float]:
        """The JSON object ``{"mean", "median", "ci_low", "ci_high"}``."""
        return {
            "mean": self.mean,
            "median": self.median,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScoreSummary:
        """The record of a JSON object written by :meth:`to_json`."""
        return cls(data["mean"], data["median"], data["ci_low"], data["ci_high"])


def _summaries(data: Mapping[str, Any]) -> dict[str, ScoreSummary]:
    return {name: ScoreSummary.from_json(value) for name, value in data.items()}


def _summaries_json(data: Mapping[str, ScoreSummary]) -> dict[str, dict[str, float]]:
    return {name: value.to_json() for name, value in data.items()}


@dataclass(frozen=True)
class CaseScore:
    """The scores of one case (a reference-labelled slice of one participant)."""

    participant_id: str
    slice: int
    valid: bool
    scores: Mapping[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A ``cases.tsv`` row: participant_id, slice, valid, then the scores."""
        return {
            "participant_id": self.participant_id,
            "slice": self.slice,
            "valid": self.valid,
            **self.scores,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CaseScore:
        """The record of a row written by :meth:`to_json`."""
        head = ("participant_id", "slice", "valid")
        scores = {k: v for k, v in data.items() if k not in head}
        return cls(str(data["participant_id"]), int(data["slice"]), bool(data["valid"]), scores)


@dataclass(frozen=True)
class SegmentationResult:
    """Segmentation scores over the cases, overall and inside each hemisphere."""

    n_cases: int
    n_invalid: int
    overall: Mapping[str, ScoreSummary]
    hemispheres: Mapping[str, Mapping[str, ScoreSummary]]

    def to_json(self) -> dict[str, Any]:
        """The ``segmentation`` object of ``results.json``."""
        return {
            "n_cases": self.n_cases,
            "n_invalid": self.n_invalid,
            "overall": _summaries_json(self.overall),
            "hemispheres": {
                side: _summaries_json(scores) for side, scores in self.hemispheres.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SegmentationResult:
        """The record of the ``segmentation`` object."""
        return cls(
            int(data["n_cases"]),
            int(data["n_invalid"]),
            _summaries(data["overall"]),
            {side: _summaries(scores) for side, scores in data["hemispheres"].items()},
        )


@dataclass(frozen=True)
class Agreement:
    """Agreement of one measure in one hemisphere: ICC, Bland-Altman bias and limits, MAE."""

    n: int
    n_missing: int
    icc_a1: float | None
    icc_c1: float | None
    bias: float | None
    loa_low: float | None
    loa_high: float | None
    mae: float | None

    def to_json(self) -> dict[str, Any]:
        """The JSON object of one measure and hemisphere."""
        return {
            "n": self.n,
            "n_missing": self.n_missing,
            "icc_a1": self.icc_a1,
            "icc_c1": self.icc_c1,
            "bias": self.bias,
            "loa_low": self.loa_low,
            "loa_high": self.loa_high,
            "mae": self.mae,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Agreement:
        """The record of a JSON object written by :meth:`to_json`."""
        return cls(**{name: data.get(name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class SubmissionInfo:
    """Which submission was scored: its path and the model that made it."""

    path: str
    generated_by: str | None
    configuration: Any = None

    def to_json(self) -> dict[str, Any]:
        """The ``submission`` object of ``results.json``."""
        return {
            "path": self.path,
            "generated_by": self.generated_by,
            "configuration": self.configuration,
        }


@dataclass(frozen=True)
class ReferenceInfo:
    """What it was scored against: rater, split and the checksums that identify the data."""

    rater: str
    split: str
    splits_checksum: str | None
    data_checksum: str
    dataset: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The ``reference`` object of ``results.json``."""
        return {
            "rater": self.rater,
            "split": self.split,
            "splits_checksum": self.splits_checksum,
            "data_checksum": self.data_checksum,
            "dataset": dict(self.dataset),
        }


@dataclass(frozen=True)
class EvaluationResult:
    """Everything ``scvbench evaluate`` finds about one submission on one split.

    ``morphometry`` maps hemisphere -> measure -> :class:`Agreement`; ``association`` is the
    reproduction of the study's statistics (see :func:`scvbench.core.association.reproduction`);
    ``human_reference`` the second rater's scores on the same cases, when there is one.
    """

    submission: SubmissionInfo
    reference: ReferenceInfo
    problems: tuple[str, ...]
    segmentation: SegmentationResult
    morphometry: Mapping[str, Mapping[str, Agreement]]
    association: Mapping[str, Any]
    human_reference: Mapping[str, Any] | None = None
    schema_version: str = SCHEMA_VERSION

    @property
    def model(self) -> str | None:
        """The model named by the submission's ``GeneratedBy``."""
        return self.submission.generated_by

    def to_json(self) -> dict[str, Any]:
        """The ``results.json`` document."""
        document = {
            "schema_version": self.schema_version,
            "submission": self.submission.to_json(),
            "reference": self.reference.to_json(),
            "problems": list(self.problems),
            "segmentation": self.segmentation.to_json(),
            "morphometry": {
                side: {name: value.to_json() for name, value in measures.items()}
                for side, measures in self.morphometry.items()
            },
            "association": self.association,
        }
        if self.human_reference is not None:
            document["human_reference"] = self.human_reference
        return document

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """The record of a ``results.json`` document.

        Raises
        ------
        KeyError, TypeError, ValueError
            When the document is not a ``results.json`` of this schema.
        """
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"schema version {data.get('schema_version')!r}, this scvbench reads "
                f"{SCHEMA_VERSION}"
            )
        submission = data["submission"]
        reference = data["reference"]
        return cls(
            submission=SubmissionInfo(
                submission.get("path", ""),
                submission.get("generated_by"),
                submission.get("configuration"),
            ),
            reference=ReferenceInfo(
                reference["rater"],
                reference["split"],
                reference.get("splits_checksum"),
                reference["data_checksum"],
                reference.get("dataset") or {},
            ),
            problems=tuple(data.get("problems") or ()),
            segmentation=SegmentationResult.from_json(data["segmentation"]),
            morphometry={
                side: {name: Agreement.from_json(value) for name, value in measures.items()}
                for side, measures in (data.get("morphometry") or {}).items()
            },
            association=data.get("association") or {},
            human_reference=data.get("human_reference"),
            schema_version=data["schema_version"],
        )
