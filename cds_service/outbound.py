"""The one URL policy for every outbound call (FHIR searches, paging links, JWK Sets).

A URL is used only when every parser on the way reads it the same: Python's ``urlsplit`` (what a check would
use), urllib3's ``parse_url`` and requests' own preparation (what actually connects). Anything they could read
differently is refused outright rather than normalised: userinfo, backslashes, control characters, spaces,
non-ASCII, fragments, ports out of range, schemes other than http(s), and dot segments raw or percent-encoded
(once, twice or three times). A token is sent only to a URL ``under`` an allow-listed base: the same scheme, host
and port, and the same path or a path below it.

Calls are bounded as a whole: ``read_bounded`` stops at a byte limit and refuses a body not complete by the
deadline, and ``BoundedSession.abort`` shuts every socket of a call at its deadline, so a server that trickles
its headers or its body costs at most the deadline and leaves no thread behind.
"""
from __future__ import annotations

import re
import socket
import time
import weakref
from typing import Iterable, NamedTuple
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url

MAX_URL_LENGTH = 8192
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_SEGMENT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,=:@]*")  # RFC 3986 pchar, decoded, without ";" and "%"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _upper(match: re.Match) -> str:
    return match.group(0).upper()


class UnsafeUrl(ValueError):
    """A URL the service will not call; the message says why and never repeats the URL (it may hold data)."""


class Target(NamedTuple):
    scheme: str
    host: str
    port: int
    path: str


def parse(url: object) -> Target:
    """The scheme, host, port and path every parser agrees on; ``UnsafeUrl`` for anything ambiguous."""
    if not isinstance(url, str) or not url:
        raise UnsafeUrl("the URL is not text")
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii():
        raise UnsafeUrl("the URL has characters outside ASCII")
    if _FORBIDDEN.search(url):
        raise UnsafeUrl("the URL has a space, a control character or a backslash")
    if "#" in url:
        raise UnsafeUrl("the URL has a fragment")
    target = _agreed(url)
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
    except (requests.RequestException, ValueError, UnicodeError):
        raise UnsafeUrl("the HTTP client cannot read the URL") from None
    if prepared.url != url and _agreed(prepared.url) != target:  # requote_uri decodes %2E and friends
        raise UnsafeUrl("the HTTP client would read the URL differently")
    return target


def _agreed(url: str) -> Target:
    try:
        split = urlsplit(url)
        scheme = split.scheme.lower()
        host = (split.hostname or "").lower()
        port = split.port
        ours = parse_url(url)
    except (ValueError, TypeError):
        raise UnsafeUrl("the URL cannot be parsed (bad host or port)") from None
    if scheme not in _DEFAULT_PORTS:
        raise UnsafeUrl("only http and https URLs are called")
    if "@" in split.netloc or split.username is not None or ours.auth:
        raise UnsafeUrl("the URL has userinfo (user@host)")
    if not host:
        raise UnsafeUrl("the URL has no host")
    if port == 0:
        raise UnsafeUrl("the URL has port 0")
    their_host = (ours.host or "").lower().removeprefix("[").removesuffix("]")
    if (ours.scheme or "").lower() != scheme or their_host != host or ours.port != port:
        raise UnsafeUrl("the HTTP client would connect elsewhere than the URL says")
    path = split.path or "/"
    for segment in path.split("/"):
        decoded = segment
        for _ in range(3):  # %2e, %252e, %25252e; bytes that are not UTF-8 become U+FFFD, refused below
            decoded = unquote(decoded, errors="replace")
        if "%" in decoded or not _SEGMENT.fullmatch(decoded) or (decoded and not decoded.strip(".")):
            # Still encoded after three decodings, a character a FHIR path never has (";" parameters that
            # Tomcat strips, controls, spaces, non-ASCII: overlong or full-width dots), or only dots.
            raise UnsafeUrl("the URL path has a dot segment, an encoded slash or characters a FHIR path never has")
    path = _PERCENT.sub(_upper, path)
    if _PERCENT.sub(_upper, ours.path or "/") != path:
        raise UnsafeUrl("the HTTP client would read the path differently")
    return Target(scheme, host, port or _DEFAULT_PORTS[scheme], path)


def check_base(url: object) -> Target:
    """A base URL for settings (an allow-list entry, a JWK Set URL): safe, and with no query."""
    target = parse(url)
    if "?" in str(url):
        raise UnsafeUrl("a base URL has no query")
    return target


def under(url: object, base: object) -> bool:
    """True when ``url`` is safe and lies at or below ``base``: same scheme, host and port; same path or below."""
    try:
        got, root = parse(url), parse(base)
    except UnsafeUrl:
        return False
    if got[:3] != root[:3]:
        return False
    prefix = root.path.rstrip("/")
    return got.path.rstrip("/") == prefix or got.path.startswith(prefix + "/")


def allowed(url: object, allowlist: Iterable[str]) -> bool:
    """True when ``url`` lies under one of the allow-listed base URLs."""
    return any(under(url, entry) for entry in allowlist)


class ReadFailed(Exception):
    """A response body that was not read whole: too large, too late or cut off (the message says which)."""


def read_bounded(resp: requests.Response, max_bytes: int, ends_at: float) -> bytes:
    """The body of a streamed response; ``ReadFailed`` when it passes ``max_bytes`` or is not complete by
    ``ends_at`` (a monotonic time). A body that ends after the deadline is refused too: it may have been cut
    short by ``BoundedSession.abort``."""
    body = bytearray()
    while True:
        try:
            chunk = resp.raw.read1(65536, decode_content=True)
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            if time.monotonic() >= ends_at:
                raise ReadFailed("deadline reached before the response was complete") from None
            raise ReadFailed(f"the response was cut off ({type(exc).__name__})") from None
        if time.monotonic() >= ends_at:
            raise ReadFailed("deadline reached before the response was complete")
        if not chunk:
            return bytes(body)
        body.extend(chunk)
        if len(body) > max_bytes:
            raise ReadFailed("the response is larger than allowed")


class BoundedSession(requests.Session):
    """A session that can shut every socket it opened, and any it opens later, at once (``abort``), so that a
    deadline bounds the whole call (connect, headers, body) of a server that trickles one byte at a time, and no
    thread is left reading."""

    def __init__(self) -> None:
        super().__init__()
        self._sockets = _Sockets()
        adapter = _TrackingAdapter(self._sockets)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def abort(self) -> None:
        self._sockets.abort()


class _Sockets:
    def __init__(self) -> None:
        self.aborted = False
        self._open: weakref.WeakSet = weakref.WeakSet()

    def add(self, sock: socket.socket) -> None:
        self._open.add(sock)
        if self.aborted:
            _shut(sock)

    def abort(self) -> None:
        self.aborted = True
        for sock in list(self._open):
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class _TrackingAdapter(HTTPAdapter):
    def __init__(self, sockets: _Sockets) -> None:
        self._sockets = sockets
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        sockets = self._sockets

        class Http(HTTPConnection):
            def connect(self) -> None:
                super().connect()
                sockets.add(self.sock)

        class Https(HTTPSConnection):
            def connect(self) -> None:
                super().connect()
                sockets.add(self.sock)

        self.poolmanager.pool_classes_by_scheme = {
            "http": type("HttpPool", (HTTPConnectionPool,), {"ConnectionCls": Http}),
            "https": type("HttpsPool", (HTTPSConnectionPool,), {"ConnectionCls": Https}),
        }
