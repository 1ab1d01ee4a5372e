"""GET /cds-services: the discovery document."""
from __future__ import annotations

import functools

from flask import Blueprint, jsonify

from ..services import SERVICES

bp = Blueprint("discovery", __name__)


@bp.get("/cds-services")
def discovery():
    return jsonify(_document())


@functools.cache  # the services and their prefetch templates are fixed when the process starts
def _document() -> dict:
    return {"services": [s.discovery() for s in SERVICES.values()]}
