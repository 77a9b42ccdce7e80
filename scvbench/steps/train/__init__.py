"""``scvbench train``: one model, one fold (or all) of the fixed split, a named recipe.

``config`` holds the recipes and the resolved settings, ``data`` the slices and augmentation,
``loop`` the seeded, resumable training loop.
"""

from scvbench.steps.train.config import (
    LOSSES,
    PRECISIONS,
    RECIPES,
    SCHEDULES,
    TrainConfig,
    plateaued,
    resolve_config,
    untrained_state,
)
from scvbench.steps.train.loop import train, train_folds
from scvbench.steps.train.record import hardware, validation_dice

__all__ = [
    "LOSSES",
    "PRECISIONS",
    "RECIPES",
    "SCHEDULES",
    "TrainConfig",
    "hardware",
    "plateaued",
    "resolve_config",
    "train",
    "train_folds",
    "untrained_state",
    "validation_dice",
]
