"""Compiled (numba) kernels of :mod:`scvbench.core.morphometry`: one call measures one vessel.

Everything between a vessel's pixels and its numbers runs here, in one compiled call per vessel:
pinhole filling, topology-preserving thinning (the lookup tables and order of
``skimage.morphology.thin``, pixel for pixel), spur pruning, the 8-neighbour pixel graph (edge
weights = step lengths in mm, as ``skan.csr.pixel_graph``; junction clusters reduced to their
minimum spanning tree, as skan does), the longest shortest path between end points (Dijkstra),
the Vossepoel-Smeulders chain-code length, the quadratic fits and tip walks at the ends, and
the distance to the background along the skeleton. The definitions are documented in
:mod:`scvbench.core.morphometry`; ``tests/test_morphometry*.py`` compare the result with skan and
skimage on the same skeletons.
"""

from scvbench.core.skeleton.thin import LUTS, thin
from scvbench.core.skeleton.vessel import FIELDS, REGION_FIELDS, measure_region, measure_vessel

__all__ = ["FIELDS", "LUTS", "REGION_FIELDS", "measure_region", "measure_vessel", "thin"]
