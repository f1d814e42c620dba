"""Calcfunctions: cheap deterministic steps recorded in the provenance graph."""
