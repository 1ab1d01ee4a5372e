"""POST /cds-services/<id>: a hook call."""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

from flask import Blueprint, current_app, g, jsonify, request

from .. import observability as obs
from ..engine import HookError, PreconditionFailed
from ..services import SERVICES
from .errors import ApiError, load_validator, validate
from .json_provider import parse_json

bp = Blueprint("hooks", __name__)
_VALIDATOR = load_validator("hook-request.schema.json")


def json_body() -> dict:
    """The request body as a JSON object, or a 4xx saying why not.

    Nesting is bounded by the parser (a RecursionError here is a 400). The body is not walked for its depth:
    that walk cost more than parsing it. Everything downstream reads fixed paths except the strict model of
    a draft, which refuses a draft nested too deeply with a 400 naming it; any other RecursionError is a 400
    too (``errors.register``), never swallowed by a rule (``Engine.evaluate``)."""
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send the body as application/json")
    try:
        body = parse_json(request.get_data(cache=True))
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "the body is not valid JSON (or is nested too deeply)") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object", "(body)")
    return body


_OPTIONAL_TOP = ("fhirServer", "fhirAuthorization", "prefetch", "extension")
_OPTIONAL_CONTEXT = ("encounterId",)


def _drop_null_optionals(body: dict) -> None:
    """An optional element sent as null is absent (Da Vinci CRD request generators send
    ``"fhirAuthorization": null`` and ``"encounterId": null``); refusing them would show the prescriber nothing."""
    for key in _OPTIONAL_TOP:
        if key in body and body[key] is None:
            del body[key]
    context = body.get("context")
    if isinstance(context, dict):
        for key in _OPTIONAL_CONTEXT:
            if key in context and context[key] is None:
                del context[key]


_LOGGABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def loggable_id(value: object) -> str:
    """``hookInstance`` as the log may carry it: a UUID-like token (CDS Hooks sends a UUID); anything else is
    logged as ``(invalid)``, so a client cannot write long or multi-line text into the service's logs."""
    return value if isinstance(value, str) and _LOGGABLE_ID.fullmatch(value) else "(invalid)"


def service_or_404(service_id: str):
    service = SERVICES.get(service_id)
    if service is None:
        raise ApiError(404, "unknown_service", f"no CDS service with id '{service_id}'")
    return service


@bp.post("/cds-services/<service_id>")
def call_hook(service_id: str):
    service = service_or_404(service_id)
    body = json_body()
    g.log_fields = {"hookInstance": loggable_id(body.get("hookInstance"))}  # logged even when the body is refused
    _drop_null_optionals(body)
    validate(_VALIDATOR, body)
    if body["hook"] != service.hook:
        raise ApiError(400, "hook_mismatch", f"service '{service.id}' answers '{service.hook}', not "
                       f"'{body['hook'][:100]}'", "hook")
    g.log_fields["hook"] = service.hook
    clock = current_app.config["CLOCK"]
    now = clock()
    try:
        result = current_app.extensions["cds_engine"].evaluate(body, now.date(), current_app.extensions["cds_memory"],
                                                               now.timestamp())
    except HookError as exc:
        raise ApiError(400, "invalid_request", exc.message, exc.field) from None
    except PreconditionFailed as exc:
        raise ApiError(412, "prefetch_unavailable", str(exc)) from None
    shown = [(c["uuid"], rid, c["indicator"]) for c, rid in zip(result.cards, result.rule_ids)]
    # A finding folded into a critical card counts for its rule, as "folded", under an id of its own.
    shown += [(folded_uuid(c["uuid"], rid), rid, "folded") for c, rules in zip(result.cards, result.folded)
              for rid in rules]
    for rule_id in result.suppressed:
        obs.SUPPRESSED.labels(rule_id).inc()
    current_app.extensions["cds_store"].record_cards(
        service.id, shown + [(str(uuid.uuid4()), rid, "suppressed") for rid in result.suppressed], now,
        result.remembered)
    for _, rule_id, indicator in shown:
        obs.CARDS.labels(rule_id, indicator).inc()
    for key in result.failed:
        obs.FHIR_FAILURES.labels(key).inc()
    if result.unrecognised:
        obs.UNRECOGNISED.inc(result.unrecognised)
    for rule_id in result.rule_errors:
        obs.RULE_ERRORS.labels(rule_id).inc()
    if result.foreign:
        obs.OTHER_PATIENT.inc(result.foreign)
    g.log_fields.update(rules=result.rule_ids + [r for rules in result.folded for r in rules], missing=result.missing)
    return jsonify({"cards": result.cards})


def folded_uuid(card_uuid: str, rule_id: str) -> str:
    """The record id of a finding folded into the card ``card_uuid`` (derived, so one card stays one row)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{card_uuid}#{rule_id}"))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
