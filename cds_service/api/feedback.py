"""POST /cds-services/<id>/feedback: what the clinician did with each card."""
from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify

from .. import observability as obs

from .errors import load_validator, validate
from .hooks import json_body, service_or_404

bp = Blueprint("feedback", __name__)
_VALIDATOR = load_validator("feedback.schema.json")


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    service = service_or_404(service_id)
    body = json_body()
    validate(_VALIDATOR, body)
    stored, duplicates = current_app.extensions["cds_store"].add_feedback(
        service.id, body["feedback"], current_app.config["CLOCK"]())
    for item in body["feedback"]:
        obs.FEEDBACK.labels(item["outcome"]).inc()
    g.log_fields = {"stored": stored, "duplicates": duplicates}
    return jsonify({"stored": stored, "duplicates": duplicates})
