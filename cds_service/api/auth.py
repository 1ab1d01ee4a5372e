"""Authentication of every discovery, hook and feedback call (CORS preflight excepted)."""
from __future__ import annotations

import logging
import time
from urllib.parse import urlsplit

from flask import Flask, current_app, jsonify, request

from .. import observability as obs
from ..auth import AuthError, ReplayCheck, Verifier
from ..config import ConfigError
from ..store import Store

log = logging.getLogger(__name__)


def register(app: Flask, store: Store) -> None:
    mode = app.config["AUTH_MODE"]
    if mode == "development":
        log.warning("AUTH_MODE=development: calls are accepted WITHOUT a verified JWT. Never use this in production.")
        return
    if not app.config["TRUSTED_ISSUERS"]:
        raise ConfigError("AUTH_MODE=required needs TRUSTED_ISSUERS (see README, 'Trusting CDS clients'); "
                          "for local development set CDS_AUTH_MODE=development")
    if not _is_base_url(app.config["PUBLIC_BASE_URL"]):
        # The audience a token must name is this service's public URL; taken from the request, a caller could
        # choose it with the Host header and replay a token minted for another service.
        raise ConfigError("CDS_PUBLIC_BASE_URL: AUTH_MODE=required needs the http(s) URL the EHR calls (a token's "
                          "aud is it plus the path called); the Host header never decides the audience")
    replay = ReplayCheck(store.use_jti, _replay_degraded)
    try:
        app.extensions["cds_verifier"] = Verifier(app.config["TRUSTED_ISSUERS"], app.config["JWT_LEEWAY_SECONDS"],
                                                  app.config["JWKS_MIN_REFRESH_SECONDS"], replay=replay)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"CDS_TRUSTED_ISSUERS: {exc}") from None

    @app.before_request
    def _authenticate():
        if request.method == "OPTIONS" or not request.path.startswith("/cds-services"):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("a bearer JWT is required")
        audience = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + request.path
        try:
            current_app.extensions["cds_verifier"].verify(token.strip(), audience)
        except AuthError as exc:
            log.info("authentication refused: %s", exc)
            return _unauthorized(str(exc))
        return None


def _is_base_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        return (parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.query
                and not parts.fragment and parts.username is None)
    except ValueError:
        return False


_last_degraded_log = [0.0]


def _replay_degraded(exc: Exception) -> None:
    """Counted every time; logged at most once a minute per worker (an outage must not flood the logs)."""
    obs.REPLAY_DEGRADED.inc()
    if time.monotonic() - _last_degraded_log[0] >= 60:
        _last_degraded_log[0] = time.monotonic()
        log.warning("token replay check uses this worker's memory while the store fails (%s); "
                    "see cds_replay_check_degraded_total", type(exc).__name__)


def _unauthorized(reason: str):
    response = jsonify({"error": "unauthorized", "message": reason})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
