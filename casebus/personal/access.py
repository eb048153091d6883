"""Who may open an owner's personal fields: the owner itself, and the agencies the config
grants (`[[personal.grants]]`); nobody else, whatever else they may read."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from casebus.config import Settings


class Readers:
    def __init__(self, settings: Settings) -> None:
        self._region = {a.code: a.region for a in settings.agencies}
        self._grants: dict[tuple[str, str], str] = {}  # (owner, reader) -> when
        for grant in settings.personal.grants:
            for reader in grant.readers:
                known = self._grants.get((grant.owner, reader))
                # "always" is the wider of the two if an owner grants a reader twice
                if known != "always":
                    self._grants[(grant.owner, reader)] = grant.when

    def may_read(self, reader: str, event: Mapping[str, Any]) -> bool:
        owner = event.get("owner")
        if reader == owner:
            return True
        when = self._grants.get((str(owner), reader))
        if when is None:
            return False
        if when == "always":
            return True
        shared = event.get("shared_with") or ()
        return reader in shared or self._region.get(reader) in shared
