"""The one page shell (``templates/page.html``) and the formatting every report shares.

Pages are Jinja2 templates that extend ``page.html``; values are escaped unless a fragment is
passed as :class:`markupsafe.Markup` (figures as ``data:`` URIs, tables built by ``pandas``).
"""

from __future__ import annotations

import base64
import math
from typing import Any

import jinja2
from markupsafe import Markup

from scvbench import __version__

__all__ = ["Markup", "data_uri", "number", "render"]

_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("scvbench.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def number(value: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals; ``n/a`` when it is missing or not finite.

    Examples
    --------
    >>> number(0.12345), number(None), number(float("nan")), number(2, 1)
    ('0.123', 'n/a', 'n/a', '2.0')
    """
    if value is None or isinstance(value, bool):
        return "n/a"
    try:
        value = float(value)
    except (TypeError, ValueError):
        return "n/a"
    return f"{value:.{digits}f}" if math.isfinite(value) else "n/a"


def participants(value) -> str:
    """A cohort size in whole participants, rounded up; ``> 600`` beyond the simulated sizes.

    Parameters
    ----------
    value : float or None
        An interpolated size (None or infinity: the curve stays below the power).

    Returns
    -------
    str
        The text.

    Examples
    --------
    >>> participants(107.07), participants(None), participants(float("inf"))
    ('108', '> 600', '> 600')
    """
    if value is None or not math.isfinite(float(value)):
        return "> 600"
    return str(math.ceil(float(value)))


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI for an ``<img src>``: reports are single files."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


_ENVIRONMENT.filters["number"] = number
_ENVIRONMENT.filters["participants"] = participants
_ENVIRONMENT.globals["version"] = __version__


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return _ENVIRONMENT.get_template(template).render(**context)
