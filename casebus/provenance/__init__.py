"""Provenance: events signed by their owners (signing.py, keys.py) and checked by every
consumer before use; the tamper-evident event log of each agency database (chain.py)."""
