"""``scvbench power``: participants a study needs when a model measures the veins.

``effect`` reads the group distributions (the study's or a user's) and the model's measurement
error; ``run`` simulates the power curves and writes them.
"""

from scvbench.steps.power.effect import (
    MEASURES,
    error_from_limits,
    load_effect,
    measurement_error,
    sampler,
)
from scvbench.steps.power.run import (
    evaluation_power,
    participants_for_power,
    power,
    tortuosity_pairs,
)

__all__ = [
    "MEASURES",
    "error_from_limits",
    "evaluation_power",
    "load_effect",
    "measurement_error",
    "participants_for_power",
    "power",
    "sampler",
    "tortuosity_pairs",
]
