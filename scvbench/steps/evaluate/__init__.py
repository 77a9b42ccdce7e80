"""``scvbench evaluate``: score a submission's vein masks against the reference annotations.

``submission`` opens and checks the folder or archive, ``cases`` finds the reference slices of
the split and reads the submission's masks, ``morphometry`` measures both and compares them
(and the study's association tests), ``run`` scores everything and writes the results.
"""

from scvbench.steps.evaluate.run import SCHEMA_VERSION, WORST, evaluate
from scvbench.steps.evaluate.submission import InvalidSubmission

__all__ = ["SCHEMA_VERSION", "WORST", "InvalidSubmission", "evaluate"]
