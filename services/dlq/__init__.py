"""`casebus dlq show` and `casebus dlq redrive`: what a DLQ holds, and sending it back
through the pipeline once the cause is fixed."""
