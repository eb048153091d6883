"""Schema registry: the Confluent REST API parts clients use, state kept in Kafka."""
