"""Matplotlib figures as PNG bytes for self-contained HTML reports."""

from __future__ import annotations

import io

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["png_bytes"]


def png_bytes(figure, dpi: int = 100, facecolor: str = "white") -> bytes:
    """Render ``figure`` to PNG bytes and close it."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", facecolor=facecolor)
    plt.close(figure)
    return buffer.getvalue()
