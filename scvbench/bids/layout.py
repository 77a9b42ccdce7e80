"""Finding participants and files in a BIDS dataset, and describing derivative datasets."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from scvbench import __version__, io
from scvbench.bids.spec import DERIVATIVES, RAW
from scvbench.errors import ScvbenchError

__all__ = [
    "CODE_URL",
    "bids_uri",
    "derivative_dir",
    "find_participants",
    "link",
    "raw_path",
    "sha256",
    "write_dataset_description",
]

CODE_URL = "https://github.com/scvbench/scvbench"


def _check_dataset(bids_dir: Path) -> None:
    if not (bids_dir / "dataset_description.json").is_file():
        raise ScvbenchError(
            f"{bids_dir} is not a BIDS dataset (no dataset_description.json); create it with "
            "scvbench convert"
        )


def find_participants(bids_dir: str | Path, labels: list[str] | None = None) -> list[str]:
    """Labels (without ``sub-``) of participants with an SWI or magnitude image, sorted.

    ``labels`` (with or without ``sub-``) selects participants; an unknown one is an error that
    lists the participants present.
    """
    bids_dir = Path(bids_dir)
    _check_dataset(bids_dir)
    present = sorted(
        folder.name.removeprefix("sub-")
        for folder in bids_dir.glob("sub-*")
        if folder.is_dir()
        and (raw_path(bids_dir, folder.name, "swi") or raw_path(bids_dir, folder.name, "mag"))
    )
    if labels is None:
        if not present:
            raise ScvbenchError(
                f"{bids_dir}: no participant has an SWI or SWI magnitude image "
                f"({RAW['swi'].filename('<label>')})"
            )
        return present
    wanted = []
    for label in labels:
        label = label.removeprefix("sub-")
        if label not in present:
            shown = ", ".join(present[:10]) + (" ..." if len(present) > 10 else "")
            raise ScvbenchError(
                f"{bids_dir}: no participant sub-{label} with SWI data (present: {shown or 'none'})"
            )
        if label not in wanted:
            wanted.append(label)
    return wanted


def raw_path(bids_dir: Path, subject: str, kind: str) -> Path | None:
    """The raw file of ``kind`` for ``subject`` if it exists."""
    path = Path(bids_dir) / RAW[kind].relpath(subject)
    return path if path.is_file() else None


def derivative_dir(bids_dir: Path, name: str, root: str | Path | None = None) -> Path:
    """``ROOT/<name>``, where ``root`` holds the derivative datasets.

    ``root`` defaults to ``BIDS_DIR/derivatives``; a BIDS-App's output folder takes its place.
    """
    return (Path(bids_dir) / "derivatives" if root is None else Path(root)) / name


def bids_uri(relpath: str, dataset: str = "raw") -> str:
    """A BIDS URI for a file of the dataset linked as ``dataset`` in ``DatasetLinks``."""
    return f"bids:{dataset}:{relpath}"


def link(target: str | Path, dataset: str | Path) -> str:
    """A ``DatasetLinks`` value from derivative ``dataset`` to ``target``.

    A relative path when both share a root (``../../`` for ``BIDS_DIR/derivatives/name``),
    else the absolute path.
    """
    target, dataset = Path(target).resolve(), Path(dataset).resolve()
    try:
        relative = os.path.relpath(target, dataset)
    except ValueError:  # another drive
        return target.as_posix()
    return relative.replace(os.sep, "/") + "/" if relative != "." else "./"


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_dataset_description(
    root: Path, name: str, description: str, links: dict[str, str] | None = None
) -> None:
    """Write a derivative ``dataset_description.json`` (unchanged files are not rewritten)."""
    document = {
        "Name": name,
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [
            {
                "Name": "scvbench",
                "Version": __version__,
                "Description": description,
                "CodeURL": CODE_URL,
            }
        ],
        "DatasetLinks": links or {"raw": "../../"},
    }
    path = Path(root) / "dataset_description.json"
    text = io.dumps_json(document)
    if not path.is_file() or path.read_text() != text:
        io.write_text(path, text)


def derivative_relpath(subject: str, kind: str, extension: str | None = None) -> str:
    """Path of a derivative file of ``kind`` relative to its derivative dataset."""
    return DERIVATIVES[kind].relpath(subject, extension)
