"""The one naming table: every BIDS file scvbench reads or writes, by kind.

BIDS 1.11 has no ``swi`` suffix, so SWI images are T2*-weighted (``T2starw``) with ``acq-swi``;
the scanner-processed SWI carries ``rec-swi`` and the magnitude and phase carry ``part-mag`` and
``part-phase``. All names here were accepted by bids-validator-deno 3.0.2.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DERIVATIVES",
    "ENTITY_ORDER",
    "EXPORT_NAME",
    "LABELME_DIR",
    "RAW",
    "BidsName",
    "FileKind",
    "filename",
    "get_kind",
    "parse",
    "sidecar",
]

#: Folder of the ``scvbench`` derivatives that holds the PNG exports raters outline in Labelme.
LABELME_DIR = "sourcedata/labelme"
#: PNG export name of MinIP slice ``slice`` of a participant (also the Labelme ``imagePath``).
EXPORT_NAME = "sub-{label}_minip-{slice:03d}.png"

#: Order of entities in a file name (BIDS schema order, the subset scvbench uses).
ENTITY_ORDER = ("sub", "ses", "acq", "ce", "rec", "run", "echo", "part", "space", "label", "desc")


@dataclass(frozen=True)
class FileKind:
    """One kind of file: its folder, fixed entities, suffix and extension."""

    name: str
    datatype: str
    entities: tuple[tuple[str, str], ...]
    suffix: str
    extension: str = ".nii.gz"

    def filename(self, subject: str, extension: str | None = None, **entities: str) -> str:
        """File name for ``subject`` (label with or without ``sub-``); ``entities`` add or override.

        Examples
        --------
        >>> DERIVATIVES["vein_mask"].filename("001", desc="rater2")
        'sub-001_acq-swi_label-vein_desc-rater2_mask.nii.gz'
        """
        label = subject.removeprefix("sub-")
        parts = dict(self.entities, sub=label, **entities)
        ordered = [f"{key}-{parts[key]}" for key in ENTITY_ORDER if key in parts]
        return "_".join([*ordered, self.suffix]) + (extension or self.extension)

    def relpath(self, subject: str, extension: str | None = None, **entities: str) -> str:
        """Path relative to the dataset root: ``sub-<label>/<datatype>/<file name>``."""
        label = subject.removeprefix("sub-")
        return f"sub-{label}/{self.datatype}/{self.filename(label, extension, **entities)}"


RAW: dict[str, FileKind] = {
    "swi": FileKind("swi", "anat", (("acq", "swi"), ("rec", "swi")), "T2starw"),
    "mag": FileKind("mag", "anat", (("acq", "swi"), ("part", "mag")), "T2starw"),
    "phase": FileKind("phase", "anat", (("acq", "swi"), ("part", "phase")), "T2starw"),
    "flair": FileKind("flair", "anat", (), "FLAIR"),
}

DERIVATIVES: dict[str, FileKind] = {
    "minip": FileKind("minip", "anat", (("acq", "swi"), ("desc", "minip")), "T2starw"),
    "brain_mask": FileKind("brain_mask", "anat", (("acq", "swi"), ("desc", "brain")), "mask"),
    "hemispheres": FileKind("hemispheres", "anat", (("acq", "swi"), ("desc", "hemi")), "dseg"),
    "vein_mask": FileKind("vein_mask", "anat", (("acq", "swi"), ("label", "vein")), "mask"),
    "vein_probseg": FileKind(
        "vein_probseg", "anat", (("acq", "swi"), ("label", "vein")), "probseg"
    ),
    "morphometry": FileKind(
        "morphometry", "anat", (("acq", "swi"), ("desc", "scv")), "morph", ".tsv"
    ),
}


def get_kind(name: str) -> FileKind:
    """Return the raw or derivative kind ``name``; an unknown name lists the known ones."""
    kinds = {**RAW, **DERIVATIVES}
    if name not in kinds:
        close = difflib.get_close_matches(name, kinds, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise KeyError(f"unknown file kind {name!r}{hint} Known: {', '.join(sorted(kinds))}")
    return kinds[name]


def filename(subject: str, kind: str, extension: str | None = None) -> str:
    """File name of ``kind`` for ``subject``.

    Examples
    --------
    >>> filename("001", "swi")
    'sub-001_acq-swi_rec-swi_T2starw.nii.gz'
    >>> filename("sub-001", "phase", ".json")
    'sub-001_acq-swi_part-phase_T2starw.json'
    >>> filename("001", "vein_mask")
    'sub-001_acq-swi_label-vein_mask.nii.gz'
    """
    return get_kind(kind).filename(subject, extension)


#: Extensions of the data files scvbench names, longest first (a sidecar replaces them).
EXTENSIONS = (".nii.gz", ".tsv.gz", ".nii", ".tsv", ".json", ".png")
_ENTITY = re.compile(r"^([a-zA-Z]+)-([a-zA-Z0-9]+)$")


@dataclass(frozen=True)
class BidsName:
    """A parsed BIDS file name: entities in order, suffix, extension."""

    entities: tuple[tuple[str, str], ...]
    suffix: str
    extension: str

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of entity ``key`` (``"sub"``, ``"desc"``, ...), or ``default``."""
        return dict(self.entities).get(key, default)

    @property
    def subject(self) -> str:
        """The participant label, without ``sub-``."""
        return self.get("sub") or ""


def parse(name: str | Path) -> BidsName:
    """Parse a BIDS file name (a path's last part is used).

    Parameters
    ----------
    name : str or Path
        ``sub-<label>[_<key>-<value>...]_<suffix><extension>``.

    Returns
    -------
    BidsName
        Its entities, suffix and extension.

    Raises
    ------
    ValueError
        When the name is not a BIDS file name.

    Examples
    --------
    >>> name = parse("sub-001_acq-swi_label-vein_desc-rater2_mask.nii.gz")
    >>> name.subject, name.get("desc"), name.suffix, name.extension
    ('001', 'rater2', 'mask', '.nii.gz')
    """
    text = Path(name).name
    extension = next((e for e in EXTENSIONS if text.endswith(e)), "")
    stem = text[: len(text) - len(extension)] if extension else text
    *pairs, suffix = stem.split("_")
    entities = []
    for pair in pairs:
        match = _ENTITY.match(pair)
        if match is None:
            raise ValueError(f"{text}: {pair!r} is not a BIDS key-value entity")
        entities.append((match[1], match[2]))
    if not entities or entities[0][0] != "sub" or not suffix.isalnum():
        raise ValueError(f"{text}: not a BIDS file name (sub-<label>_..._<suffix><extension>)")
    return BidsName(tuple(entities), suffix, extension)


def sidecar(path: str | Path) -> Path:
    """The JSON sidecar beside a data file (its extension replaced by ``.json``).

    Examples
    --------
    >>> sidecar("sub-001/anat/sub-001_acq-swi_desc-minip_T2starw.nii.gz").name
    'sub-001_acq-swi_desc-minip_T2starw.json'
    >>> sidecar("mask.nii").name
    'mask.json'
    """
    path = Path(path)
    for extension in EXTENSIONS:
        if path.name.endswith(extension) and extension != ".json":
            return path.with_name(path.name[: -len(extension)] + ".json")
    raise ValueError(f"{path}: no data-file extension ({', '.join(EXTENSIONS[:4])})")
