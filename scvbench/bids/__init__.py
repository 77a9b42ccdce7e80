"""BIDS names and paths used by scvbench."""
