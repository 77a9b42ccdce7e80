"""Helpers shared by the BIDS-App, container and SLURM tests."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` with its SHA-256: what a read-only input must keep."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def copy_raw(bids: Path, target: Path, raters=("rater1", "rater2")) -> Path:
    """The raw dataset of ``bids`` with only the reference masks of ``raters``."""
    shutil.copytree(bids, target, ignore=shutil.ignore_patterns("derivatives"))
    source = bids / "derivatives" / "annotations"
    for path in source.rglob("*"):
        if path.is_file() and (
            path.parent == source or any(f"_desc-{r}_" in path.name for r in raters)
        ):
            destination = target / "derivatives" / "annotations" / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, destination)
    return target
