"""Synthetic SWI/FLAIR cohort with known ground truth (``scvbench synth``)."""

from scvbench.steps.synth.cohort import draw_cohort
from scvbench.steps.synth.cohort_writer import generate_cohort
from scvbench.steps.synth.presets import PRESETS, get_preset

__all__ = ["PRESETS", "draw_cohort", "generate_cohort", "get_preset"]
