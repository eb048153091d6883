"""HTTP Basic credentials, as the registry and the key services take them."""

from __future__ import annotations

import base64
import binascii


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(name, password) from an `Authorization: Basic ...` header; None if there is none or
    it is malformed (the caller answers 401)."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, sep, password = decoded.partition(":")
    return (name, password) if sep else None
