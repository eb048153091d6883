"""What reading the bus may fail with, answered on the page instead of as an error page:
the broker unreachable or refusing, a principal's secret not set."""

from __future__ import annotations

from kafka.errors import KafkaError

from casebus.security.secrets import MissingSecret

BUS_ERRORS: tuple[type[Exception], ...] = (KafkaError, OSError, MissingSecret)
