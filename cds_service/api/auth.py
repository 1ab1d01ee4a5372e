"""Authentication of every discovery, hook and feedback call (CORS preflight excepted)."""
from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, request

from ..auth import AuthError, Verifier
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
    app.extensions["cds_verifier"] = Verifier(app.config["TRUSTED_ISSUERS"], app.config["JWT_LEEWAY_SECONDS"],
                                              app.config["JWKS_MIN_REFRESH_SECONDS"], replay=store.use_jti)

    @app.before_request
    def _authenticate():
        if request.method == "OPTIONS" or not request.path.startswith("/cds-services"):
            return None
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("a bearer JWT is required")
        base = current_app.config["PUBLIC_BASE_URL"]
        audience = (base.rstrip("/") + request.path) if base else request.base_url
        try:
            current_app.extensions["cds_verifier"].verify(token.strip(), audience)
        except AuthError as exc:
            log.info("authentication refused: %s", exc)
            return _unauthorized(str(exc))
        return None


def _unauthorized(reason: str):
    response = jsonify({"error": "unauthorized", "message": reason})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    return response
