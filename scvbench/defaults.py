"""The settings every part shares, in one record: the study's MinIP slab, the vein threshold, ...

The command line, the BIDS-App, the SLURM script writer, the synthetic cohort and the library
functions read their defaults from :data:`DEFAULTS`, so that a default is written once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULTS", "Defaults"]


@dataclass(frozen=True)
class Defaults:
    """Defaults of the study's protocol and of scvbench's scoring.

    Attributes
    ----------
    slab_mm : float
        MinIP slab thickness in mm (the study's 20 mm).
    step_mm : float
        MinIP step between windows in mm.
    threshold : float
        A pixel is vein when its probability is at least this.
    min_area_mm2 : float
        Components smaller than this are specks, not vessels.
    seed : int
        Random seed of splits, training, bootstrap and the synthetic cohort.
    bootstrap : int
        Bootstrap resamples for confidence intervals and rank intervals.
    raters : tuple of str
        The reference rater and the second (human reference) rater of the synthetic cohort.
    """

    slab_mm: float = 20.0
    step_mm: float = 1.0
    threshold: float = 0.5
    min_area_mm2: float = 2.0
    seed: int = 0
    bootstrap: int = 1000
    raters: tuple[str, ...] = ("rater1", "rater2")


#: The one instance the rest of scvbench reads.
DEFAULTS = Defaults()
