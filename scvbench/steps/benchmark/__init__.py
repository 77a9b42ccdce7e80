"""``scvbench benchmark``: the official benchmark, from the cohort to the leaderboard.

``stamps`` records which stages are done and with what (the run record), ``data`` runs the data
stages and checks what they made against their stamps, ``state`` keeps the run's portable state
for another machine, ``cards`` writes the baselines' model cards, ``run`` runs the stages in
order and skips the finished ones.
"""

from scvbench.steps.benchmark.run import DEFAULT_MODELS, benchmark
from scvbench.steps.benchmark.stamps import RECORD, folder_checksum

__all__ = ["DEFAULT_MODELS", "RECORD", "benchmark", "folder_checksum"]
