"""Shell words for the scripts scvbench writes: every value quoted, only variables expanded.

A value that came from a user's argument never reaches a shell unquoted: it is a single-quoted
word (``shlex.quote``), or, for a path that names node-local scratch through environment
variables (``$TMPDIR``, ``${SLURM_TMPDIR:-/tmp}``), a double-quoted word in which nothing but
those references can expand. ``#SBATCH`` lines are read by ``sbatch``, not by a shell, and take
no quoting: their values are checked instead.
"""

from __future__ import annotations

import re
import shlex

from scvbench.errors import ScvbenchError

__all__ = ["Live", "check_value", "expandable_path", "sbatch_value", "word"]

_VARIABLE = re.compile(
    r"\$(?:(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[A-Za-z0-9_./-]*))?\})"
)
_SBATCH = re.compile(r"[A-Za-z0-9_.,+:=@%/-]+")


class Live(str):
    """A word the script builds from its own variables: written as it is."""

    __slots__ = ()


def word(value: str) -> str:
    """One shell word: a :class:`Live` word as it is, any other value single-quoted.

    Parameters
    ----------
    value : str
        The word.

    Returns
    -------
    str
        Text for the script.

    Examples
    --------
    >>> word("/data/bids$(touch x)")
    "'/data/bids$(touch x)'"
    >>> word(Live('"$label"'))
    '"$label"'
    """
    return value if isinstance(value, Live) else shlex.quote(value)


def check_value(value: str, what: str) -> str:
    """Refuse a value with a control character (a new line starts a new command).

    Parameters
    ----------
    value : str
        An option's value.
    what : str
        The option, named in the error.

    Returns
    -------
    str
        ``value``.
    """
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ScvbenchError(f"{what} {value!r}: control characters (a new line) are not allowed")
    return value


def sbatch_value(value: str, what: str) -> str:
    """A value for an ``#SBATCH`` line: letters, digits and ``_.,+:=@%/-`` only.

    Parameters
    ----------
    value : str
        An option's value (partition, account).
    what : str
        The option, named in the error.

    Returns
    -------
    str
        ``value``.
    """
    check_value(value, what)
    if not _SBATCH.fullmatch(value):
        raise ScvbenchError(
            f"{what} {value!r}: SLURM names use letters, digits and _.,+:=@%/- only"
        )
    return value


def _escaped(text: str) -> str:
    """``text`` inside double quotes, with nothing left that a shell would expand."""
    return re.sub(r'([\\"`$])', r"\\\1", text)


def expandable_path(value: str, what: str) -> Live:
    r"""A double-quoted word of a path in which only environment variables expand.

    Parameters
    ----------
    value : str
        A path that may use ``$NAME``, ``${NAME}`` or ``${NAME:-/default}``.
    what : str
        The option, named in the error.

    Returns
    -------
    Live
        The word, double-quoted.

    Raises
    ------
    ScvbenchError
        For control characters, or a ``$`` that is not one of those references (``$(...)``,
        ``${NAME:=...}``, ...).

    Examples
    --------
    >>> expandable_path("${TMPDIR:-/tmp}/s", "--work-dir")
    '"${TMPDIR:-/tmp}/s"'
    >>> expandable_path("/scratch/a`b", "--work-dir")
    '"/scratch/a\\`b"'
    """
    check_value(value, what)
    parts, position = [], 0
    for match in _VARIABLE.finditer(value):
        literal = value[position : match.start()]
        if "$" in literal:
            break
        parts.append(_escaped(literal))
        name = match["bare"] or match["name"]
        default = match["default"]
        parts.append("${" + name + ("" if default is None else ":-" + default) + "}")
        position = match.end()
    rest = value[position:]
    if "$" in rest:
        raise ScvbenchError(
            f"{what} {value!r}: only environment variables ($NAME, ${{NAME}} or "
            "${NAME:-/default}) may be expanded on the node"
        )
    parts.append(_escaped(rest))
    return Live('"' + "".join(parts) + '"')
