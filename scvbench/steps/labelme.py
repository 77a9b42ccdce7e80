r"""Labelme files read and identified: which participant, MinIP slice and rater each outlines.

A file is identified by its ``scvbench`` block, its name and its ``imagePath`` (as Labelme 7
reads it, ``PureWindowsPath``: files saved on Windows say ``..\\labelme\\sub-002_minip-012.png``).
When two of them name different slices or participants the file is refused: it would otherwise
land on the wrong slice.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

from scvbench.bids.keys import check_label, is_label
from scvbench.errors import ScvbenchError

__all__ = ["Identity", "identify", "parse_name", "read_labelme"]

_NAME = re.compile(r"^(?P<who>.+?)_minip-(?P<slice>\d+)$")
#: A Labelme file larger than this is not an outline of one slice.
_MAX_BYTES = 256 << 20


def parse_name(stem: str) -> tuple[str, int] | None:
    """``(who, slice)`` from a name like ``sub-001_minip-012`` or ``P0223674_minip-012``.

    Parameters
    ----------
    stem : str
        A file name without its extension.

    Returns
    -------
    tuple of (str, int) or None
        Who (``sub-<label>`` or a PatientID) and the MinIP slice, or None for another name.

    Examples
    --------
    >>> parse_name("sub-001_minip-012")
    ('sub-001', 12)
    >>> parse_name("notes") is None
    True
    """
    match = _NAME.match(stem)
    if match is None:
        return None
    return match["who"], int(match["slice"])


def read_labelme(path: Path) -> dict:
    """Load a Labelme JSON document, or raise one clear error naming the file.

    Parameters
    ----------
    path : Path
        A Labelme ``.json`` file.

    Returns
    -------
    dict
        The document (with its ``shapes`` list).
    """
    try:
        if Path(path).stat().st_size > _MAX_BYTES:
            raise ScvbenchError(f"{path}: larger than {_MAX_BYTES >> 20} MiB; not a Labelme file")
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ScvbenchError(f"{path}: not a readable Labelme JSON file ({err})") from None
    except RecursionError:
        raise ScvbenchError(f"{path}: JSON nested too deeply; not a Labelme file") from None
    if not isinstance(document, dict) or not isinstance(document.get("shapes"), list):
        raise ScvbenchError(f"{path}: not a Labelme file (no 'shapes' list)")
    return document


@dataclass(frozen=True)
class Identity:
    """Whose slice a Labelme file outlines."""

    label: str
    slice: int
    rater: str
    extra: dict


def _image_stem(document: dict) -> str:
    text = document.get("imagePath")
    return PureWindowsPath(str(text)).stem if isinstance(text, str) and text else ""


def _label_of(who: str, key: dict[str, str], path: Path) -> str:
    if who.startswith("sub-"):
        return check_label(who, str(path))
    if who in key:
        return key[who]
    hint = (
        "give --key-file (written by scvbench convert)" if not key else "it is not in the key file"
    )
    raise ScvbenchError(f"{path}: {who!r} is not a BIDS participant label; {hint}")


def identify(
    path: Path, document: dict, key: dict[str, str], rater: str | None, root: Path
) -> Identity:
    """Participant label, MinIP slice and rater of one Labelme file.

    Parameters
    ----------
    path : Path
        The file.
    document : dict
        Its content.
    key : dict
        PatientID to label, for files named by PatientID.
    rater : str, optional
        The rater of every file (``--rater``).
    root : Path
        The folder imported; a file in a sub-folder is by the rater the folder names.

    Returns
    -------
    Identity
        Label, slice, rater and the file's ``scvbench`` block.
    """
    extra = document.get("scvbench") if isinstance(document.get("scvbench"), dict) else {}
    named = {
        "file name": parse_name(path.stem),
        "imagePath": parse_name(_image_stem(document)),
    }
    if "minip_slice" in extra and (extra.get("participant_id") or extra.get("patient_id")):
        who = str(extra.get("participant_id") or extra.get("patient_id"))
        named["scvbench block"] = (who, extra["minip_slice"])
    found = {k: v for k, v in named.items() if v is not None}
    if not found:
        raise ScvbenchError(
            f"{path}: cannot tell the participant and MinIP slice; name the file like the PNG "
            "export it outlines (sub-<label>_minip-<slice>.json)"
        )
    try:
        seen = {k: (_label_of(str(w), key, path), int(m)) for k, (w, m) in found.items()}
    except (TypeError, ValueError):
        raise ScvbenchError(f"{path}: its MinIP slice is not a whole number") from None
    if len(set(seen.values())) > 1:
        said = "; ".join(f"{k} says sub-{label} slice {m}" for k, (label, m) in seen.items())
        raise ScvbenchError(
            f"{path}: {said}; the outline would land on the wrong slice: rename the file or "
            "re-save it from the right image"
        )
    label, slice_ = next(iter(seen.values()))
    name = rater or extra.get("rater")
    if name is None and path.parent != root:
        name = path.parent.name
    if not name:
        raise ScvbenchError(f"{path}: no rater named in the file; give --rater NAME")
    name = str(name)
    if not is_label(name):
        raise ScvbenchError(
            f"{path}: rater {name!r} must be letters and digits only (it becomes a BIDS desc "
            "label); give --rater NAME"
        )
    return Identity(label, slice_, name, extra)
