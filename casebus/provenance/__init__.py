"""Provenance: events signed by their owners (signing.py, keys.py, batch.py) and checked by
every consumer before use (pipeline/inbound.py). The tamper-evident event log of each agency
database is agencydb/chain.py; its heads are published by pipeline/heads.py."""
