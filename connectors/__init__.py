"""Source-system connectors: one module per system, run by connectors.runner."""
