"""The web console: agency staff's cases, timelines, transfers due and rejects; admins'
consumers, DLQs, audits, cluster and replays (`casebus console serve`)."""
