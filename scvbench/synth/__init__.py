"""Synthetic SWI/FLAIR cohort with known ground truth (``scvbench synth``)."""

from scvbench.synth.cohort import draw_cohort
from scvbench.synth.cohort_writer import generate_cohort
from scvbench.synth.presets import PRESETS, get_preset

__all__ = ["PRESETS", "draw_cohort", "generate_cohort", "get_preset"]
