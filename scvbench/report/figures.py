"""Matplotlib figures as PNG bytes for self-contained HTML reports."""

from __future__ import annotations

import io

# matplotlib is imported inside the functions that use it: heavy, and not
# needed by the commands that only import this module.

__all__ = ["png_bytes"]


def png_bytes(figure, dpi: int = 100, facecolor: str = "white", tight: bool = True) -> bytes:
    """Render ``figure`` to PNG bytes and close it.

    ``tight`` crops the figure to what is drawn (one more drawing pass); a figure laid out with
    ``tight_layout`` already fits its canvas and saves faster without it.
    """
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    crop = {"bbox_inches": "tight"} if tight else {}
    figure.savefig(buffer, format="png", dpi=dpi, facecolor=facecolor, **crop)
    plt.close(figure)
    return buffer.getvalue()
