"""Fetch FHIR searches the client did not prefetch, only from allow-listed servers.

The access token from ``fhirAuthorization`` is sent only to the ``fhirServer`` of the request, and only when
that server is on the allow-list (``outbound.allowed``); every URL called, ``next`` links included, must lie
under that server by the same policy (``outbound.under``); redirects are not followed; every call has connect
and read timeouts, a response size limit and a bounded number of pages, and the deadline bounds the whole
read of all the searches of one hook call, however slowly a server trickles its bytes.
"""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from .. import outbound


class FhirFetchError(Exception):
    """A FHIR search could not be completed; the message holds no token and no patient data."""


@dataclass
class FhirClient:
    base_url: str
    access_token: str | None
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_pages: int = 10
    max_bytes: int = 10 * 1024 * 1024
    deadline: float = 8.0  # seconds for all the searches of one hook call
    max_resources: int = 10_000  # resources all the searches of one hook call may return together

    def __post_init__(self) -> None:
        self._ends_at = time.monotonic() + self.deadline
        self.base_url = self.base_url.rstrip("/") + "/"
        self.session = outbound.BoundedSession()
        self._resources_left = self.max_resources
        self._count_lock = threading.Lock()
        self.session.headers["Accept"] = "application/fhir+json, application/json"
        if self.access_token:
            self.session.headers["Authorization"] = f"Bearer {self.access_token}"

    def _get_json(self, url: str) -> Any:
        if not outbound.under(url, self.base_url):
            raise FhirFetchError("a URL (a paging link, or the search itself) pointed off the FHIR server")
        remaining = self._ends_at - time.monotonic()
        if remaining <= 0:
            raise FhirFetchError("FHIR fetch deadline reached")
        try:
            with self.session.get(url, timeout=(min(self.connect_timeout, remaining), min(self.read_timeout, remaining)),
                                  allow_redirects=False, stream=True) as resp:
                if resp.status_code != 200:
                    raise FhirFetchError(f"FHIR server answered HTTP {resp.status_code}")
                body = outbound.read_bounded(resp, self.max_bytes, self._ends_at)
        except outbound.ReadFailed as exc:
            raise FhirFetchError(f"FHIR response refused: {exc}") from None
        except requests.Timeout:
            raise FhirFetchError("FHIR server timed out") from None
        except requests.RequestException as exc:
            raise FhirFetchError(f"FHIR server unreachable ({type(exc).__name__})") from None
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise FhirFetchError("FHIR server returned a body that is not JSON (or is nested too deeply)") from None

    def search(self, query: str) -> list[dict]:
        """All resources a search returns (entries of a searchset, following ``next`` up to ``max_pages``)."""
        url = urljoin(self.base_url, query)
        resources: list[dict] = []
        for _ in range(self.max_pages):
            data = self._get_json(url)
            if not isinstance(data, dict):
                raise FhirFetchError("FHIR server returned JSON that is not a resource")
            if data.get("resourceType") == "OperationOutcome":
                raise FhirFetchError("FHIR server returned an OperationOutcome")
            if data.get("resourceType") != "Bundle":
                return [data]
            entries = data.get("entry") if isinstance(data.get("entry"), list) else []
            links = data.get("link") if isinstance(data.get("link"), list) else []
            found = [entry["resource"] for entry in entries
                     if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
                     and (entry.get("search") or {}).get("mode") != "outcome"]
            with self._count_lock:
                self._resources_left -= len(found)
                if self._resources_left < 0:
                    raise FhirFetchError(f"FHIR searches returned more than {self.max_resources} resources in all")
            resources.extend(found)
            url = next((link.get("url") for link in links
                        if isinstance(link, dict) and link.get("relation") == "next"), None)
            if not isinstance(url, str) or not url:
                return resources
        raise FhirFetchError(f"FHIR search had more than {self.max_pages} pages")

    def search_all(self, queries: dict[str, str]) -> dict[str, list[dict] | FhirFetchError]:
        """Run several searches concurrently over one connection pool; each key gets resources or the error.
        Whatever has not answered by the deadline counts as failed, and the call does not wait for it."""
        if not queries:
            return {}
        pool = ThreadPoolExecutor(max_workers=min(8, len(queries)))
        try:
            futures = {key: pool.submit(self._safe_search, q) for key, q in queries.items()}
            _, late = wait(futures.values(), timeout=max(0.0, self._ends_at - time.monotonic()) + 0.05)
            if late:
                self.session.abort()  # the threads still reading return at once; nothing is left behind
            return {key: f.result() if f.done() else FhirFetchError("FHIR fetch deadline reached")
                    for key, f in futures.items()}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _safe_search(self, query: str) -> list[dict] | FhirFetchError:
        try:
            return self.search(query)
        except FhirFetchError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001  a failure no check foresaw is a failed search, never a 500
            return FhirFetchError(f"FHIR fetch failed ({type(exc).__name__})")
