"""The one naming table: every BIDS file scvbench reads or writes, by kind.

BIDS 1.11 has no ``swi`` suffix, so SWI images are T2*-weighted (``T2starw``) with ``acq-swi``;
the scanner-processed SWI carries ``rec-swi`` and the magnitude and phase carry ``part-mag`` and
``part-phase``. All names here were accepted by bids-validator-deno 3.0.2.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["DERIVATIVES", "ENTITY_ORDER", "RAW", "FileKind", "filename", "get_kind"]

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
