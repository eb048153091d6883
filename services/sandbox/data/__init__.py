"""Deterministic, seedable source data for the sandbox systems."""
