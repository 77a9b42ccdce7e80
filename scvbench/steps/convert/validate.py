"""Run the official BIDS validator (bids-validator-deno, installed with scvbench) offline."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scvbench.errors import ScvbenchError

__all__ = ["STRAY", "ValidationResult", "require_valid", "stray_work", "validate"]

#: The code under which :func:`validate` lists work folders left by a killed run.
STRAY = "SCVBENCH_STRAY_WORK_FOLDER"


def stray_work(bids_dir: str | Path) -> list[Path]:
    """Work folders a killed scvbench run left in a dataset (the BIDS validator ignores them).

    Parameters
    ----------
    bids_dir : path
        The dataset.

    Returns
    -------
    list of Path
        ``.scvbench-work``, non-empty ``derivatives/*/.work`` and ``.sub-*.old-*`` folders.
    """
    root = Path(bids_dir)
    found = [root / ".scvbench-work"] if (root / ".scvbench-work").exists() else []
    found += [p for p in sorted(root.glob("derivatives/*/.work")) if any(p.iterdir())]
    found += sorted(root.glob(".sub-*.old-*")) + sorted(root.glob("derivatives/*/.sub-*.old-*"))
    return found


@dataclass(frozen=True)
class ValidationResult:
    """The validator's verdict: exit code, errors and warnings as ``(code, location)`` pairs.

    ``expected`` holds the one kind of error scvbench's own outputs cause on purpose:
    ``NOT_INCLUDED`` on the ``_morph.tsv`` morphometry tables (BIDS has no suffix for them;
    PETPrep and XCP-D use the same name).
    """

    returncode: int
    errors: list[tuple[str, str]]
    warnings: list[tuple[str, str]]
    expected: list[tuple[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """True when the validator found no error besides the expected ones."""
        return not self.errors and (self.returncode == 0 or bool(self.expected))


def _executable() -> str:
    local = Path(sys.executable).with_name("bids-validator-deno")
    found = str(local) if local.exists() else shutil.which("bids-validator-deno")
    if not found:
        raise ScvbenchError("bids-validator-deno is not installed; pip install bids-validator-deno")
    return found


def validate(bids_dir: str | Path, recursive: bool = False) -> ValidationResult:
    """Validate ``bids_dir``; with ``recursive`` also the derivative datasets inside it.

    Parameters
    ----------
    bids_dir : path
        The dataset.
    recursive : bool
        Also the derivative datasets.

    Returns
    -------
    ValidationResult
        Errors, warnings and the expected ``NOT_INCLUDED`` on ``_morph.tsv`` tables.
    """
    args = [_executable(), "--json", str(bids_dir)]
    if recursive:
        args.insert(1, "--recursive")
    run = subprocess.run(args, capture_output=True, text=True, check=False)
    try:
        report = json.loads(run.stdout)
    except ValueError:
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ScvbenchError(f"bids-validator-deno failed on {bids_dir}: {tail[0]}") from None
    issues = list(report.get("issues", {}).get("issues", []))
    # With --recursive each derivative dataset reports separately; name it in the location.
    for root, summary in sorted(report.get("derivativesSummary", {}).items()):
        for issue in summary.get("issues", {}).get("issues", []):
            location = root.rstrip("/") + issue.get("location", "")
            issues.append({**issue, "location": location})
    errors = [
        (i.get("code", ""), i.get("location", "")) for i in issues if i.get("severity") == "error"
    ]
    expected = [e for e in errors if e[0] == "NOT_INCLUDED" and e[1].endswith("_morph.tsv")]
    errors = [e for e in errors if e not in expected]
    warnings = [
        (i.get("code", ""), i.get("location", "")) for i in issues if i.get("severity") == "warning"
    ]
    errors += [(STRAY, "/" + str(p.relative_to(bids_dir))) for p in stray_work(bids_dir)]
    return ValidationResult(run.returncode, errors, warnings, expected)


def require_valid(bids_dir: str | Path) -> None:
    """Raise one error listing the validator's first errors unless ``bids_dir`` is valid.

    Parameters
    ----------
    bids_dir : path
        The dataset.

    Returns
    -------
    None
        Nothing when the dataset is valid.

    Raises
    ------
    ScvbenchError
        With the validator's first errors.
    """
    result = validate(bids_dir)
    if not result.valid:
        shown = "; ".join(f"{code} {where}" for code, where in result.errors[:5])
        more = f" and {len(result.errors) - 5} more" if len(result.errors) > 5 else ""
        raise ScvbenchError(
            f"{bids_dir}: the BIDS validator found {len(result.errors)} error(s): {shown}{more}; "
            "fix the dataset or pass --skip-bids-validation"
        )
