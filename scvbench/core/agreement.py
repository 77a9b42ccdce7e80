"""Agreement of two raters' (or a model's and a rater's) measurements: ICC, Bland-Altman, MAE."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scvbench.core.stats import icc
from scvbench.results import Agreement

__all__ = ["morphometry_agreement"]


def morphometry_agreement(
    pairs: pd.DataFrame, measures: tuple[str, ...] = ("count", "diameter_mm", "tortuosity")
) -> dict[str, dict[str, Agreement]]:
    """ICC(A,1), ICC(C,1), Bland-Altman bias and 95 % limits, MAE per measure and hemisphere.

    Units are slices x hemispheres; a pair with a missing value (no vessel: no diameter or
    tortuosity) is left out of that measure and counted in ``n_missing``.

    Parameters
    ----------
    pairs : DataFrame
        One row per case and hemisphere with ``hemisphere`` and ``<measure>_submission`` /
        ``<measure>_reference`` columns.
    measures : tuple of str
        The measures to compare.

    Returns
    -------
    dict
        ``{hemisphere: {measure: Agreement}}``.
    """
    out: dict = {}
    for side in ("left", "right"):
        part = pairs[pairs["hemisphere"] == side]
        for name in measures:
            sub = part[f"{name}_submission"].to_numpy(float)
            ref = part[f"{name}_reference"].to_numpy(float)
            keep = np.isfinite(sub) & np.isfinite(ref)
            diff = sub[keep] - ref[keep]
            agreement = icc(ref[keep], sub[keep])
            bias = float(diff.mean()) if diff.size else None
            sd = float(diff.std(ddof=1)) if diff.size > 1 else None
            out.setdefault(side, {})[name] = Agreement(
                n=int(keep.sum()),
                n_missing=int((~keep).sum()),
                icc_a1=agreement["icc_a1"],
                icc_c1=agreement["icc_c1"],
                bias=bias,
                loa_low=None if sd is None else bias - 1.96 * sd,
                loa_high=None if sd is None else bias + 1.96 * sd,
                mae=float(np.abs(diff).mean()) if diff.size else None,
            )
    return out
