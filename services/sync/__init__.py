"""Sync: each agency's database holds the records its subscription admits, exactly once."""
