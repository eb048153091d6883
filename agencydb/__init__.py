"""The agency database: models, migrations, engine, the writes, stored offsets and
revisions, the event-log chain, and the read queries (case view, reconcile, transfers due).

Everything that knows the agency tables lives here; the pipeline writes through it and the
services read through it."""
