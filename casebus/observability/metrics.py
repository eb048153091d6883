"""Every metric family casebus exports, defined once (prometheus_client's default registry).

Names follow Prometheus's conventions: the `casebus_` prefix, base units (seconds), `_total`
for counters, timestamps as `_timestamp_seconds` (alert on `time() - x`). Each service
registers them all but sets only its own; a family never set exports no series (labelled)
or a 0 (unlabelled, but only the few shared ones below are unlabelled).

Hot paths increment once per batch with the batch's counts, never once per event.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Seconds: a batch commit or a feed transaction takes milliseconds to seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

# -- every service ----------------------------------------------------------------------------

HEARTBEAT = Gauge(
    "casebus_heartbeat_timestamp_seconds",
    "When the service's loop last turned (seconds since the epoch)",
    ["service"],
)
CHECK_OK = Gauge(
    "casebus_check_ok",
    "1 while a readiness check passes, 0 while it fails (the watcher runs them)",
    ["service", "check"],
)
BROKERS_UP = Gauge("casebus_kafka_brokers_up", "Kafka brokers registered and not fenced")
BROKERS_EXPECTED = Gauge("casebus_kafka_brokers_expected", "Kafka brokers the cluster should have")
UNDER_REPLICATED = Gauge(
    "casebus_kafka_partitions_under_replicated",
    "Partitions (visible to the service's principal) with fewer in-sync replicas than replicas",
)
OFFLINE = Gauge(
    "casebus_kafka_partitions_offline",
    "Partitions (visible to the service's principal) without a leader",
)
TOPIC_MESSAGES = Gauge(
    "casebus_topic_messages",
    "Records held by a topic the service writes to on failure (a DLQ, casebus.rejects): "
    "end minus beginning offsets, read by the watcher",
    ["topic"],
)

# -- consumers: kafka-lag-exporter's semantics (casebus/observability/lag.py) -----------------

LAG = Gauge(
    "casebus_consumergroup_lag",
    "Records the consumer has not read: high watermark minus position, per partition it holds",
    ["group", "topic", "partition"],
)
LAG_SECONDS = Gauge(
    "casebus_consumergroup_lag_seconds",
    "How long ago the last record the consumer read was written, while records wait; 0 when "
    "caught up",
    ["group", "topic", "partition"],
)
SIGNATURE_REFUSALS = Counter(
    "casebus_signature_refusals_total",
    "Events refused before decoding because of their signature, by reason",
    ["consumer", "reason"],
)

# -- sync (services/sync, pipeline/observe.py) -----------------------------------------------

SYNC_EVENTS = Counter(
    "casebus_sync_events_total",
    "Events the sync decided on and committed, by outcome",
    ["agency", "topic", "outcome"],
)
SYNC_DEAD_LETTERED = Counter(
    "casebus_sync_dead_lettered_total",
    "Events the sync sent to its DLQ (conflicts and rejects), by reason (casebus.error.class)",
    ["agency", "topic", "reason"],
)
SYNC_COMMIT_SECONDS = Histogram(
    "casebus_sync_batch_commit_seconds",
    "One batch's database transaction: apply, event log, offsets and the DLQ's acks",
    ["agency"],
    buckets=LATENCY_BUCKETS,
)
SYNC_STAGE_SECONDS = Counter(
    "casebus_sync_stage_seconds_total",
    "CPU seconds per pipeline stage, wherever it ran (the decode worker's included)",
    ["agency", "stage"],
)
SYNC_WORKER_ITEMS = Counter(
    "casebus_sync_decode_worker_items_total",
    "What the decode worker process made of the records handed to it, by kind",
    ["agency", "kind"],
)
SYNC_RETRIES = Counter(
    "casebus_sync_retries_total",
    "Transient faults waited out (database, registry, broker)",
    ["agency"],
)
SYNC_LAST_APPLIED = Gauge(
    "casebus_sync_last_applied_timestamp_seconds",
    "When this sync process last committed an applied event",
    ["agency"],
)
SYNC_LAST_APPLIED_AGE = Gauge(
    "casebus_sync_last_applied_event_age_seconds",
    "How old the last applied event was when it was committed (its Kafka timestamp to then)",
    ["agency"],
)
SYNC_MISSING_TOPICS = Gauge(
    "casebus_sync_missing_topics",
    "1 for each subscribed topic that does not exist or that the sync's principal may not read",
    ["agency", "topic"],
)

# -- feeds (services/feeds) ------------------------------------------------------------------

FEED_EVENTS = Counter(
    "casebus_feed_events_total", "Lead events the feeds decided on, by outcome", ["outcome"]
)
FEED_FORWARDED = Counter(
    "casebus_feed_records_forwarded_total",
    "Redacted leads written to a platform's feed",
    ["platform"],
)
FEED_RETRACTED = Counter(
    "casebus_feed_records_retracted_total",
    "Tombstones written to a platform's feed (a lead it may no longer see)",
    ["platform"],
)
FEED_DEAD_LETTERED = Counter(
    "casebus_feed_dead_lettered_total",
    "Lead events the feeds sent to their DLQ, by reason (casebus.error.class)",
    ["reason"],
)
FEED_TRANSACTIONS = Counter("casebus_feed_transactions_total", "Feed transactions committed")
FEED_ABORTED = Counter(
    "casebus_feed_transactions_aborted_total", "Feed transactions aborted (the batch read again)"
)
FEED_PRODUCERS_REPLACED = Counter(
    "casebus_feed_producers_replaced_total",
    "Transactional producers given up and replaced after a call that never returned",
)
FEED_TRANSACTION_SECONDS = Histogram(
    "casebus_feed_transaction_seconds",
    "One feed transaction, from its first record to its commit (or abort)",
    buckets=LATENCY_BUCKETS,
)

# -- connectors (connectors/runner.py) -------------------------------------------------------

_CONNECTOR = ["connector", "source_system"]
CONNECTOR_FETCHED = Counter("casebus_connector_fetched_total", "Source records fetched", _CONNECTOR)
CONNECTOR_PUBLISHED = Counter(
    "casebus_connector_published_total", "Events published and acknowledged", _CONNECTOR
)
CONNECTOR_REJECTED = Counter(
    "casebus_connector_rejected_total",
    "Source records rejected (sent to casebus.rejects with every failed rule)",
    _CONNECTOR,
)
CONNECTOR_RETRIED = Counter(
    "casebus_connector_retries_total", "HTTP requests to the source system retried", _CONNECTOR
)
CONNECTOR_RUNS = Counter(
    "casebus_connector_runs_total",
    "Connector runs, by result (ok, failed)",
    ["connector", "result"],
)
CONNECTOR_LAST_FETCH = Gauge(
    "casebus_connector_last_fetch_timestamp_seconds",
    "When a run last fetched from the source system without an error",
    ["source_system"],
)

# -- HTTP services (ingest, registry) --------------------------------------------------------

HTTP_REQUESTS = Counter(
    "casebus_http_requests_total",
    "HTTP requests answered, by service, route and status code",
    ["service", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "casebus_http_request_seconds",
    "HTTP request duration",
    ["service", "route"],
    buckets=LATENCY_BUCKETS,
)
INGEST_EVENTS = Counter(
    "casebus_ingest_events_total",
    "Events accepted by the ingest endpoint (committed to Kafka), by calling agency",
    ["agency"],
)

# -- the link between two regions (services/mirror) ------------------------------------------

_LINK = ["source", "target"]
LINK_UP = Gauge(
    "casebus_link_up",
    "1 while MirrorMaker 2 copies the source region's shared events into the target's cluster",
    _LINK,
)
LINK_RECORDS_BEHIND = Gauge(
    "casebus_link_records_behind",
    "Source events that will cross and are not copied yet (a bound past 50,000)",
    _LINK,
)
LINK_SECONDS_BEHIND = Gauge(
    "casebus_link_seconds_behind",
    "Age of the oldest source event that will cross and is not copied yet (0: none)",
    _LINK,
)
