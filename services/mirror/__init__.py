"""The link between two regions' clusters: Apache Kafka's MirrorMaker 2, configured from ours."""
