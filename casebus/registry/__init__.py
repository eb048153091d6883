"""Schema registry client (Confluent-compatible REST)."""

from casebus.registry.client import (
    CompatibilityResult,
    RegisteredSchema,
    RegistryClient,
    RegistryError,
    registry_for,
)

__all__ = [
    "CompatibilityResult",
    "RegisteredSchema",
    "RegistryClient",
    "RegistryError",
    "registry_for",
]
