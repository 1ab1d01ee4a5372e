"""GET /cds-services: the discovery document."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..services import SERVICES

bp = Blueprint("discovery", __name__)


@bp.get("/cds-services")
def discovery():
    return jsonify({"services": [s.discovery() for s in SERVICES.values()]})
