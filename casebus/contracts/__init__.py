"""Event contracts: the Avro schemas in schemas/ and the rules Avro cannot express."""
