"""POST /cds-services/<id>/feedback: what the clinician did with each card."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from .errors import load_validator, validate
from .hooks import json_body, service_or_404

bp = Blueprint("feedback", __name__)
_VALIDATOR = load_validator("feedback.schema.json")


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    service = service_or_404(service_id)
    body = json_body()
    validate(_VALIDATOR, body)
    stored, duplicates = current_app.extensions["cds_store"].add_feedback(service.id, body["feedback"])
    return jsonify({"stored": stored, "duplicates": duplicates})
