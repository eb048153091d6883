"""HTTP ingest endpoint for agency systems that push events (see services/ingest/app.py)."""
