"""Operator views that read across the services: where every consumer stands (status.py)
and which transfers are due (transfers.py)."""
