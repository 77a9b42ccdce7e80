"""HTML reports: per-participant QC (``qc``) and figure helpers (``figures``)."""
