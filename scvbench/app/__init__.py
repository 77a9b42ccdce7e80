"""The BIDS-App (`scvbench run`, participant and group levels) and the SLURM script writer."""
