"""Trace-correlated logging (:mod:`.correlation`) and which records are exported (:mod:`.records`)."""
