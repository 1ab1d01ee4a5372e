"""GET /: the review page for clinical governance (aggregate figures only, never patient data).

Behind HTTP Basic with ``ADMIN_USER``/``ADMIN_PASSWORD``. Without a password the page is open in development
mode and refused in required mode, so a production deployment never exposes it by accident. Failed logins are
throttled per client address (``LoginThrottle``): guessing the password costs hours, not seconds.
"""
from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, render_template, request
from markdown_it import MarkdownIt
from markupsafe import Markup

from ..review import describe_action, examples, governance

bp = Blueprint("review", __name__)
# Card texts are our own files, but raw HTML in them is still not passed through.
_MARKDOWN = MarkdownIt("commonmark", {"html": False})


class LoginThrottle:
    """At most ``limit`` failed logins per client address in ``window`` seconds; beyond, every attempt (right or
    wrong) is refused with 429 until the oldest failure leaves the window. Kept per worker process and bounded
    in memory. Behind a proxy every client shares the proxy's address, so an attacker can lock the page for
    everyone for a few minutes: for a governance page, a better trade than letting a password be guessed."""

    def __init__(self, limit: int = 10, window: float = 300.0, max_clients: int = 10_000):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._failures: dict[str, deque] = {}
        self._lock = threading.Lock()

    def wait(self, client: str, now: float) -> float:
        """Seconds this client must wait before trying again (0: it may try)."""
        with self._lock:
            failures = self._failures.get(client)
            while failures and failures[0] <= now - self.window:
                failures.popleft()
            return failures[0] + self.window - now if failures and len(failures) >= self.limit else 0.0

    def failed(self, client: str, now: float) -> None:
        with self._lock:
            if client not in self._failures and len(self._failures) >= self.max_clients:
                self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > now - self.window}
            self._failures.setdefault(client, deque(maxlen=self.limit)).append(now)


def _refused() -> Response | None:
    password = current_app.config["ADMIN_PASSWORD"]
    if not password:
        if current_app.config["AUTH_MODE"] == "development":
            return None
        return jsonify({"error": "forbidden", "message": "the review page needs CDS_ADMIN_PASSWORD to be set"}), 403
    client, now = request.remote_addr or "?", time.monotonic()
    throttle = current_app.extensions.setdefault("cds_login_throttle", LoginThrottle())
    wait = throttle.wait(client, now)
    if wait > 0:
        response = jsonify({"error": "too_many_requests", "message": "too many failed logins; try again later"})
        response.status_code = 429
        response.headers["Retry-After"] = str(int(wait) + 1)
        return response
    auth = request.authorization
    if (auth is not None and auth.type == "basic"
            and hmac.compare_digest((auth.username or "").encode(), current_app.config["ADMIN_USER"].encode())
            and hmac.compare_digest((auth.password or "").encode(), password.encode())):
        return None
    if auth is not None:  # a browser's first request carries no credential: not a failed login
        throttle.failed(client, now)
    response = jsonify({"error": "unauthorized", "message": "the review page needs the admin credential"})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="CDS review", charset="UTF-8"'
    return response


@lru_cache(maxsize=4)
def _gallery(engine, examples_dir: str) -> list:
    return examples(engine, Path(examples_dir))  # fixed for the life of the process: card files are read at start


@bp.get("/")
def review_page():
    refused = _refused()
    if refused is not None:
        return refused
    engine = current_app.extensions["cds_engine"]
    gallery = _gallery(engine, current_app.config["EXAMPLES_DIR"])
    titles = {e.rule_id: e.title for e in gallery}
    today = current_app.config["CLOCK"]().date()
    store = current_app.extensions["cds_store"]
    window, figures = governance(store.rule_summary(engine.catalog.reason_display), titles, today,
                                 calls=store.hook_call_count())
    html = render_template("review.html", gallery=gallery, figures=figures, window=window,
                           markdown=lambda text: Markup(_MARKDOWN.render(text)), action=describe_action,
                           disabled={e.rule_id for e in gallery} - set(engine.rules))
    response = Response(html, content_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                                   "frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response
