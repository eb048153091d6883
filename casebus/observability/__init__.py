"""What an operator watches: Prometheus metrics, `/healthz` and `/readyz`, on one port per
long-running service (docs/operations.md#metrics-health-and-alerts).

- `metrics`: every metric family casebus exports, defined once (names, labels, units);
- `lag`: consumer lag in records and seconds (pure);
- `health`: the heartbeat a loop touches, named readiness checks, the decision (pure), and
  the watcher thread that runs the checks that need the network;
- `server`: the small HTTP server answering `/metrics`, `/healthz` and `/readyz`.
"""
