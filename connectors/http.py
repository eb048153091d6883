"""HTTP sessions for source systems: transient errors retried by urllib3, not by hand.

429 and 5xx are retried with exponential backoff, honouring `Retry-After`; connection
errors too. Every retry is counted (from the Retry history urllib3 leaves on the response)
so a run can report how rough the ride was.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUS = (429, 500, 502, 503, 504)


class SourceSession(requests.Session):
    """A requests session with retries and a retry counter."""

    def __init__(self, *, retries: int = 8, backoff: float = 0.05, timeout: float = 15) -> None:
        super().__init__()
        self.timeout = timeout
        self.retries = 0
        self._lock = threading.Lock()
        retry = Retry(
            total=retries,
            backoff_factor=backoff,
            backoff_max=5,
            status_forcelist=RETRY_STATUS,
            allowed_methods=None,  # our POSTs are reads (list queries, token grants)
            respect_retry_after_header=True,
            raise_on_status=True,
        )
        adapter = HTTPAdapter(max_retries=retry)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        self.hooks["response"].append(self._count)

    def _count(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        history = getattr(getattr(response.raw, "retries", None), "history", ())
        if history:
            with self._lock:
                self.retries += len(history)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)
