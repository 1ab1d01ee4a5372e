"""Operations: /healthz (alive), /readyz (store reachable, card files loaded), /metrics, and per-call logs.

These routes need no JWT: probes and Prometheus call them, and they carry no patient data.
"""
from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from .. import observability as obs
from ..services import SERVICES

bp = Blueprint("ops", __name__)
log = logging.getLogger("cds_service.calls")


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers. Nothing external is checked, so a database outage never restarts pods."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz():
    """Readiness: the store answers and the card files are loaded; 503 names what is not ready."""
    checks = {}
    try:
        checks["store"] = "ok" if current_app.extensions["cds_store"].ping() else "failed"
    except Exception as exc:  # the database is down or unreachable: not ready, and say so
        checks["store"] = f"failed ({type(exc).__name__})"
    catalog = current_app.extensions["cds_engine"].catalog
    checks["cards"] = "ok" if catalog.loaded() else "failed"
    ready = all(v == "ok" for v in checks.values())
    return jsonify({"status": "ready" if ready else "not ready", "checks": checks}), 200 if ready else 503


@bp.get("/metrics")
def metrics():
    if not current_app.config["METRICS_ENABLED"]:
        return jsonify({"error": "not_found", "message": "metrics are disabled (CDS_METRICS_ENABLED)"}), 404
    payload, content_type = obs.metrics_payload()
    return Response(payload, content_type=content_type)


def register(app: Flask) -> None:
    """Time every CDS call, count it by service and status, and log one line for it."""

    @app.before_request
    def _start():
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        if not request.path.startswith("/cds-services/") or request.method == "OPTIONS":
            return response
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        service_id = (request.view_args or {}).get("service_id")
        service = service_id if service_id in SERVICES else "unknown"  # never a label per caller-chosen string
        kind = "feedback" if request.path.endswith("/feedback") else "hook"
        obs.REQUESTS.labels(service, str(response.status_code)).inc()
        obs.LATENCY.labels(service).observe(elapsed)
        fields = {"event": kind, "service": service, "status": response.status_code,
                  "latency_ms": round(elapsed * 1000, 2), **g.get("log_fields", {})}
        log.info("%s call", kind, extra=fields)
        return response
