"""CORS for browser-based CDS clients (CDS Hooks 2.0 "Cross-origin resource sharing"), on the CDS routes only,
and the headers every response carries.

The review page and ``/metrics`` answer no other origin: only ``/cds-services`` is meant to be called from a
browser-based EHR on another origin."""
from __future__ import annotations

from flask import Flask, Response, request

ALLOWED_HEADERS = "Authorization, Content-Type"
ALLOWED_METHODS = "GET, POST, OPTIONS"
CDS_PATH = "/cds-services"


def register(app: Flask) -> None:
    allowed = app.config["CORS_ALLOWED_ORIGINS"]

    @app.before_request
    def _preflight():
        if request.method == "OPTIONS" and request.path.startswith(CDS_PATH):
            return Response(status=204)
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        if not request.path.startswith(CDS_PATH):
            return response
        origin = request.headers.get("Origin")
        if "*" in allowed:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif origin and origin in allowed:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers.add("Vary", "Origin")
        else:
            return response
        response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        return response
