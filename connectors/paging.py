"""Paging loops shared by sources that page the same way."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connectors.base import Page

Fetch = Callable[[int], list[dict[str, Any]]]


def numbered(fetch_page: Fetch, *, seq_field: str, page_size: int) -> Iterator[Page]:
    """Page numbers 1, 2, ... over a fixed "changed since" query; the checkpoint is the
    change number of the last record of each page."""
    page = 1
    while True:
        records = fetch_page(page)
        if records:
            yield Page(records, str(records[-1][seq_field]))
        if len(records) < page_size:
            return
        page += 1
