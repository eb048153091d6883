"""A region's key service: the wrapped data keys and the erasure log over HTTPS."""
