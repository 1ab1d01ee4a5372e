"""The outbound URL policy, tried with the tricks a red team used, against real HTTP servers on this machine.

Two servers listen on 127.0.0.1: the allow-listed FHIR server (base ``/fhir``) and another one. Every trick is
a paging ``next`` link, a ``fhirServer`` or a setting; the assertion is what an attacker wants: the bearer
token never reaches the other server, nor any path off the allow-listed base. A trickling server is abandoned
at the deadline with no thread left reading.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import responses

from cds_service import create_app, outbound
from cds_service.config import ConfigError
from conftest import ISS, JWKS, load_json, post_hook

TOKEN = "secret-token-for-the-fhir-server"
NO_PREFETCH = "sandbox/order-sign-r4-fentanyl-no-prefetch.json"
PATIENT = "smart-7321938"


class Server:
    """A FHIR-ish server that records every request (path and Authorization) and answers by path."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.next_link: str | None = None
        self.trickle = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append((self.path, self.headers.get("Authorization")))
                if server.trickle and "/MedicationRequest" in self.path:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/fhir+json")
                    self.end_headers()
                    try:
                        for _ in range(600):  # 1 byte every 0.1 s: two minutes of body
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.1)
                    except OSError:
                        pass
                    return
                bundle: dict = {"resourceType": "Bundle", "type": "searchset", "entry": []}
                if self.path.startswith("/fhir/Patient/"):
                    bundle = {"resourceType": "Patient", "id": PATIENT}
                elif self.path.startswith("/fhir/MedicationRequest") and server.next_link and "page=2" not in self.path:
                    bundle["link"] = [{"relation": "next", "url": server.next_link}]
                body = json.dumps(bundle).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def tokens_sent_off(self, base_path: str | None) -> list[str]:
        """Paths that got the token: all of them, or those outside ``base_path``."""
        return [path for path, auth in self.seen if auth and TOKEN in auth
                and (base_path is None or not (path == base_path or path.startswith(base_path + "/")))]


@pytest.fixture
def servers():
    allowed, other = Server(), Server()
    yield allowed, other
    for server in (allowed, other):
        server.httpd.shutdown()
        server.httpd.server_close()


def _call(config: dict, allowed: Server, fhir_server: str | None = None, token: str = TOKEN, **settings):
    app = create_app({**config, "FHIR_SERVER_ALLOWLIST": [f"http://127.0.0.1:{allowed.port}/fhir"], **settings})
    body = load_json(NO_PREFETCH)
    body["fhirServer"] = fhir_server or f"http://127.0.0.1:{allowed.port}/fhir"
    body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                 "scope": "user/MedicationRequest.read", "subject": "cds-service"}
    with responses.RequestsMock(passthru_prefixes=("http://127.0.0.1",)):
        return post_hook(app.test_client(), body)


def _assert_the_token_stayed_under_the_base(allowed: Server, other: Server) -> None:
    assert other.seen == []
    assert allowed.tokens_sent_off("/fhir") == []


def test_the_allowed_server_gets_the_token_and_answers(config, servers):
    """The control: without a trick the token goes to the allow-listed server, and only there."""
    allowed, other = servers
    response = _call(config, allowed)
    assert response.status_code == 200
    assert any(path.startswith("/fhir/MedicationRequest") for path, _ in allowed.seen)
    assert allowed.tokens_sent_off(None) and not allowed.tokens_sent_off("/fhir")
    assert other.seen == []


NEXT_LINK_TRICKS = {
    "backslash-userinfo (urlsplit sees the allowed host)": "http://127.0.0.1:{other}\\@127.0.0.1:{allowed}/fhir/MedicationRequest?page=2",
    "backslash-userinfo (urlsplit sees the other host)": "http://127.0.0.1:{allowed}\\@127.0.0.1:{other}/fhir/MedicationRequest?page=2",
    "userinfo": "http://127.0.0.1:{allowed}@127.0.0.1:{other}/fhir/MedicationRequest?page=2",
    "user and password": "http://user:pw@127.0.0.1:{other}/fhir/MedicationRequest?page=2",
    "another port": "http://127.0.0.1:{other}/fhir/MedicationRequest?page=2",
    "dot segments": "http://127.0.0.1:{allowed}/fhir/../steal?page=2",
    "encoded dot segments": "http://127.0.0.1:{allowed}/fhir/%2e%2e/steal?page=2",
    "mixed-case encoded dot segments": "http://127.0.0.1:{allowed}/fhir/%2E%2e/steal?page=2",
    "double-encoded dot segments": "http://127.0.0.1:{allowed}/fhir/%252e%252e/steal?page=2",
    "encoded slash": "http://127.0.0.1:{allowed}/fhir%2f..%2fsteal?page=2",
    "a sibling path sharing the prefix": "http://127.0.0.1:{allowed}/fhir-steal/MedicationRequest?page=2",
    "fragment hiding a host": "http://127.0.0.1:{allowed}/fhir/MedicationRequest?page=2#@127.0.0.1:{other}",
    "tab in the host": "http://127.0.0.1:{other}\t/fhir/MedicationRequest?page=2",
    "another scheme": "ftp://127.0.0.1:{other}/fhir/MedicationRequest?page=2",
    "port out of range": "http://127.0.0.1:{allowed}9999/fhir/MedicationRequest?page=2",
    "a path parameter Tomcat strips (..;)": "http://127.0.0.1:{allowed}/fhir/..;/steal?page=2",
    "four times encoded dots": "http://127.0.0.1:{allowed}/fhir/%2525252e%2525252e/steal?page=2",
    "dots and an encoded NUL": "http://127.0.0.1:{allowed}/fhir/..%00/steal?page=2",
    "dots and an encoded space": "http://127.0.0.1:{allowed}/fhir/%20../steal?page=2",
    "three dots": "http://127.0.0.1:{allowed}/fhir/.../steal?page=2",
    "overlong UTF-8 dots": "http://127.0.0.1:{allowed}/fhir/%c0%ae%c0%ae/steal?page=2",
    "full-width dots": "http://127.0.0.1:{allowed}/fhir/%ef%bc%8e%ef%bc%8e/steal?page=2",
}


@pytest.mark.parametrize("trick", NEXT_LINK_TRICKS, ids=list(NEXT_LINK_TRICKS))
def test_a_paging_link_never_takes_the_token_off_the_allowed_server(config, servers, trick):
    allowed, other = servers
    allowed.next_link = NEXT_LINK_TRICKS[trick].format(allowed=allowed.port, other=other.port)
    response = _call(config, allowed)
    _assert_the_token_stayed_under_the_base(allowed, other)
    assert response.status_code == 412  # the medication list could not be read whole
    assert "medication" in response.get_json()["message"].lower()


FHIR_SERVER_TRICKS = {
    "dot segments": "http://127.0.0.1:{allowed}/fhir/../steal",
    "encoded dot segments": "http://127.0.0.1:{allowed}/fhir/%2e%2e/steal",
    "double-encoded dot segments": "http://127.0.0.1:{allowed}/fhir/%252E%252E/steal",
    "a sibling path sharing the prefix": "http://127.0.0.1:{allowed}/fhirsteal",
    "backslash-userinfo": "http://127.0.0.1:{other}\\@127.0.0.1:{allowed}/fhir",
    "userinfo": "http://127.0.0.1:{allowed}@127.0.0.1:{other}/fhir",
    "fragment": "http://127.0.0.1:{other}/fhir#127.0.0.1:{allowed}/fhir",
    "a path parameter Tomcat strips (..;)": "http://127.0.0.1:{allowed}/fhir/..;/steal",
    "overlong UTF-8 dots": "http://127.0.0.1:{allowed}/fhir/%c0%ae%c0%ae/steal",
}


@pytest.mark.parametrize("trick", FHIR_SERVER_TRICKS, ids=list(FHIR_SERVER_TRICKS))
def test_a_fhir_server_off_the_allow_list_never_gets_the_token(config, servers, trick):
    allowed, other = servers
    response = _call(config, allowed, FHIR_SERVER_TRICKS[trick].format(allowed=allowed.port, other=other.port))
    _assert_the_token_stayed_under_the_base(allowed, other)
    assert response.status_code == 412  # nothing prefetched and the server is not one the service may call


@pytest.mark.parametrize("entry", ["http://fhir.example.org/r4/../admin", "http://fhir.example.org\\@x/r4",
                                   "http://user@fhir.example.org/r4", "file:///etc", "http://fhir.example.org/r4?x=1",
                                   "http://fhir.example.org/r4#x", "http://fhir.example.org:70000/r4"])
def test_an_unsafe_allow_list_entry_stops_the_start(config, entry):
    with pytest.raises(ConfigError, match="FHIR_SERVER_ALLOWLIST"):
        create_app({**config, "FHIR_SERVER_ALLOWLIST": [entry]})


@pytest.mark.parametrize("spec", [{"jwks_url": "http://keys.example.org/%2e%2e/jwks"},
                                  {"jwks": JWKS, "jku_allowlist": ["http://x@keys.example.org/jwks"]},
                                  {"jwks_url": "ldap://keys.example.org/jwks"}])
def test_an_unsafe_jwks_url_stops_the_start(config, spec):
    with pytest.raises(ConfigError, match="TRUSTED_ISSUERS"):
        create_app({**config, "AUTH_MODE": "required", "PUBLIC_BASE_URL": "https://cds.example.org",
                    "TRUSTED_ISSUERS": {ISS: spec}})


@pytest.mark.parametrize("token", ["secret-\u20ac", "line\u2028separator", "two words", "tab\there"])
def test_a_token_http_cannot_carry_is_never_sent_and_is_not_a_500(config, servers, token):
    allowed, other = servers
    response = _call(config, allowed, token=token)
    assert response.status_code == 412  # nothing prefetched, and nothing could be fetched
    assert allowed.seen == [] and other.seen == []


def _reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")]


def test_a_trickling_fhir_server_is_abandoned_at_the_deadline_with_no_thread_left(config, servers):
    allowed, _ = servers
    allowed.trickle = True
    before = set(_reader_threads())
    started = time.monotonic()
    response = _call(config, allowed, FHIR_DEADLINE=1.0)
    waited = time.monotonic() - started
    assert response.status_code == 412  # the medication list never came whole
    assert waited < 3.0  # the deadline (1 s) bounds the whole read, not each byte
    for _ in range(30):
        if not set(_reader_threads()) - before:
            break
        time.sleep(0.1)
    assert set(_reader_threads()) - before == set()


def test_a_server_trickling_its_headers_is_abandoned_too():
    """The headers phase is bounded by the session's abort, not only the body."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def trickle_headers() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                conn.send(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            pass
        conn.close()

    threading.Thread(target=trickle_headers, daemon=True).start()
    session = outbound.BoundedSession()
    threading.Timer(0.5, session.abort).start()
    started = time.monotonic()
    with pytest.raises(Exception):
        session.get(f"http://127.0.0.1:{port}/fhir/Patient", timeout=(2, 2))
    assert time.monotonic() - started < 1.5
    listener.close()


@pytest.mark.parametrize("url", ["http://a.example.org/fhir/MedicationRequest?patient=1&_count=50",
                                 "https://A.Example.ORG:443/fhir/r4/Medication?_id=a,b",
                                 "http://[::1]:8080/fhir/Patient/1", "https://fhir.example.org/api/FHIR/R4/p%3Aq"])
def test_ordinary_fhir_urls_pass(url):
    assert outbound.parse(url).host


def test_under_compares_origin_and_whole_path_segments():
    assert outbound.under("https://fhir.example.org:443/r4/Patient", "https://FHIR.example.org/r4/")
    assert outbound.under("https://fhir.example.org/r4", "https://fhir.example.org/r4/")
    assert not outbound.under("https://fhir.example.org/r4x/Patient", "https://fhir.example.org/r4")
    assert not outbound.under("http://fhir.example.org/r4/Patient", "https://fhir.example.org/r4")
    assert not outbound.under("https://fhir.example.org:8443/r4/Patient", "https://fhir.example.org/r4")
