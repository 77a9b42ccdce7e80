"""HTML reports: per-participant QC (``qc``)."""
