"""The framework floor (issue 19): a minimal Flask app that parses the hook body with the service's own parser and
answers ``{"cards": []}``. `benchmarks/http_bench.py` serves it with `cds-service serve`'s gunicorn configuration
(``cli._serve(args, make_app=floor_app)``), so the ratio hook / floor is the cost of everything the service adds
between the socket and the answer."""
from __future__ import annotations

from flask import Flask, request

from cds_service.api.json_provider import OrjsonProvider, parse_json


class _NoStore:
    """What `cds-service serve` calls on the app's store around forks (nothing to do here)."""

    def after_fork(self) -> None:
        pass

    def close(self) -> None:
        pass


def floor_app() -> Flask:
    app = Flask("floor")
    app.json = OrjsonProvider(app)
    app.extensions["cds_store"] = _NoStore()

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/cds-services/<service_id>")
    def hook(service_id: str):
        parse_json(request.get_data())
        return {"cards": []}

    return app
