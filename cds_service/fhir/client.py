"""Fetch FHIR searches the client did not prefetch, only from allow-listed servers.

The access token from ``fhirAuthorization`` is sent only to the ``fhirServer`` of the request, and only when
that server is on the allow-list; redirects are not followed; every call has connect and read timeouts, a
response size limit and a bounded number of pages; ``next`` links are followed only on the same server.
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urljoin, urlsplit

import requests


class FhirFetchError(Exception):
    """A FHIR search could not be completed; the message holds no token and no patient data."""


def _origin(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port or default, parts.path.rstrip("/") + "/"


def is_allowed(url: str, allowlist: Iterable[str]) -> bool:
    """True when ``url`` lies under one of the allow-listed base URLs (same scheme, host, port, path prefix)."""
    try:
        parts = urlsplit(url)
        if parts.username or parts.password or parts.scheme not in ("http", "https"):
            return False
        scheme, host, port, path = _origin(url)
    except ValueError:
        return False
    for entry in allowlist:
        try:
            e_scheme, e_host, e_port, e_path = _origin(entry)
        except ValueError:
            continue
        if (scheme, host, port) == (e_scheme, e_host, e_port) and path.startswith(e_path):
            return True
    return False


@dataclass
class FhirClient:
    base_url: str
    access_token: str | None
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_pages: int = 10
    max_bytes: int = 10 * 1024 * 1024
    deadline: float = 8.0  # seconds for all the searches of one hook call

    def __post_init__(self) -> None:
        self._ends_at = time.monotonic() + self.deadline
        self.base_url = self.base_url.rstrip("/") + "/"
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/fhir+json, application/json"
        if self.access_token:
            self.session.headers["Authorization"] = f"Bearer {self.access_token}"

    def _get_json(self, url: str) -> Any:
        if _origin(url)[:3] != _origin(self.base_url)[:3] or not _origin(url)[3].startswith(_origin(self.base_url)[3]):
            raise FhirFetchError("a paging link pointed off the FHIR server")
        remaining = self._ends_at - time.monotonic()
        if remaining <= 0:
            raise FhirFetchError("FHIR fetch deadline reached")
        try:
            with self.session.get(url, timeout=(min(self.connect_timeout, remaining), min(self.read_timeout, remaining)),
                                  allow_redirects=False, stream=True) as resp:
                if resp.status_code != 200:
                    raise FhirFetchError(f"FHIR server answered HTTP {resp.status_code}")
                body = bytearray()
                for chunk in resp.iter_content(65536):
                    body.extend(chunk)
                    if len(body) > self.max_bytes:
                        raise FhirFetchError("FHIR response larger than the configured limit")
                    if time.monotonic() > self._ends_at:
                        raise FhirFetchError("FHIR fetch deadline reached")
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
            for entry in entries:
                if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                    if (entry.get("search") or {}).get("mode") != "outcome":
                        resources.append(entry["resource"])
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
            wait(futures.values(), timeout=max(0.0, self._ends_at - time.monotonic()) + 0.05)
            return {key: f.result() if f.done() else FhirFetchError("FHIR fetch deadline reached")
                    for key, f in futures.items()}
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _safe_search(self, query: str) -> list[dict] | FhirFetchError:
        try:
            return self.search(query)
        except FhirFetchError as exc:
            return exc
