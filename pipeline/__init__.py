"""One pipeline from Kafka records to an agency database, with two sources.

    source ─► inbound step ─► decide ─► store (rows, event log, offsets: one transaction)
    (a consumer group for sync;   (pipeline/inbound.py: signature, decode, signer; validation
     assigned partitions for       in the decode worker during a backlog, or at apply)
     replay and redrive)                                         └─► DLQ beside it

The batch loop with its decode worker ahead (pipeline/loop.py), the retry with backoff
(casebus/retry.py) and the wiring of a sink (pipeline/sink.py) are written once here;
sync and replay are thin configurations of them."""
