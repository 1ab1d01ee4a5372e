"""POST /cds-services/<id>/feedback: what the clinician did with each card.

The override reason is read from the spec's ``overrideReason`` or from Epic's ``overrideReasons`` (an object, or
an array: a ``reason`` Coding the card offered, or Epic's own reasons as extension keys, and ``userComment``).

The envelope is checked first (an object with 1 to 500 items). Then each item on its own, against the item
schema (lengths are what the store holds) and for what no schema says: no NUL character and no lone surrogate
(PostgreSQL refuses both), and an outcome time that is a real instant, stored as UTC with microseconds so that
the same instant written two ways is one item. Valid items are stored in one transaction; if any item was
refused the answer is a 400 naming each refused item, with the count of those stored, so that a retry of the
whole batch is harmless (stored items come back as duplicates). The store failing is a 503 with Retry-After,
and nothing of the batch is stored.
"""
from __future__ import annotations

import copy
import logging
from datetime import datetime, timezone

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy.exc import SQLAlchemyError

from .. import observability as obs
from .errors import ApiError, load_schema, load_validator, validate
from .hooks import json_body, service_or_404

log = logging.getLogger(__name__)
bp = Blueprint("feedback", __name__)
_SCHEMA = load_schema("feedback.schema.json")
_ITEM = load_validator(_SCHEMA["properties"]["feedback"]["items"])
_envelope = copy.deepcopy(_SCHEMA)
_envelope["properties"]["feedback"]["items"] = {"type": "object"}
_ENVELOPE = load_validator(_envelope)
_ITEM_PROPS = _SCHEMA["properties"]["feedback"]["items"]["properties"]
_LIMITS = {"card": _ITEM_PROPS["card"]["maxLength"],  # what the store's columns hold, written once in the schema
           "code": _ITEM_PROPS["overrideReason"]["properties"]["reason"]["properties"]["code"]["maxLength"],
           "text": _ITEM_PROPS["overrideReason"]["properties"]["userComment"]["maxLength"]}
STORE_RETRY_AFTER_SECONDS = 30


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str):
    service = service_or_404(service_id)
    body = json_body()
    validate(_ENVELOPE, body)
    accepted, refused = [], []
    catalog = current_app.extensions["cds_engine"].catalog
    for index, item in enumerate(body["feedback"]):
        try:
            accepted.append(_with_offered_display(checked_item(item), catalog))
        except ApiError as exc:
            refused.append({"index": index, "field": f"feedback[{index}].{exc.field}" if exc.field else
                            f"feedback[{index}]", "message": exc.message})
    try:
        result = current_app.extensions["cds_store"].add_feedback(service.id, accepted, current_app.config["CLOCK"]())
    except SQLAlchemyError as exc:
        log.error("feedback not stored: the store failed (%s)", type(exc).__name__)
        raise ApiError(503, "store_unavailable", "the feedback store is unavailable; nothing of this batch was "
                       "stored; send it again later", headers={"Retry-After": str(STORE_RETRY_AFTER_SECONDS)}) from None
    for outcome, count in result.stored_outcomes.items():
        obs.FEEDBACK.labels(outcome).inc(count)
    memory = current_app.extensions.get("cds_memory")
    if memory is not None:  # stored feedback does not depend on this
        memory.remember(accepted, catalog, current_app.config["CLOCK"]().timestamp())
    g.log_fields = {"stored": result.stored, "duplicates": result.duplicates, "refused": len(refused)}
    if refused:
        first = refused[0]
        raise ApiError(400, "invalid_request", f"{len(refused)} of {len(body['feedback'])} feedback items refused "
                       f"(the others were stored): {first['field']} {first['message']}", first["field"],
                       extra={"refused": refused, "stored": result.stored, "duplicates": result.duplicates})
    return jsonify({"stored": result.stored, "duplicates": result.duplicates})


EPIC_REASON = "com.epic.cdshooks.feedback.overrideReason."
EPIC_REASON_SYSTEM = "com.epic.cdshooks.feedback.overrideReason.reasonCategory"


def override_reason(item: dict) -> dict:
    """The spec's ``overrideReason``, or Epic's ``overrideReasons`` (an object or an array) read as one: the first
    entry with a reason gives it (a ``reason`` Coding, or Epic's extension keys: category as the code, display
    or title as the display), the first with a ``userComment`` gives the comment."""
    if item.get("overrideReason") or "overrideReasons" not in item:
        return item.get("overrideReason") or {}
    entries = item["overrideReasons"] if isinstance(item["overrideReasons"], list) else [item["overrideReasons"]]
    out: dict = {}
    for entry in entries:
        reason = entry.get("reason") or _epic_reason(entry.get("extension") or {})
        if reason and "reason" not in out:
            out["reason"] = reason
        if isinstance(entry.get("userComment"), str) and "userComment" not in out:
            out["userComment"] = entry["userComment"]
    return out


def _epic_reason(extension: dict) -> dict | None:
    category = extension.get(EPIC_REASON + "reasonCategory")
    if isinstance(category, bool) or not isinstance(category, (str, int)):
        category = None  # a number beyond an integer (1e999 reads as infinity) is no code
    display = extension.get(EPIC_REASON + "reasonDisplay") or extension.get(EPIC_REASON + "reasonTitle")
    if category is None and not display:
        return None
    reason = {"system": EPIC_REASON_SYSTEM}
    if category is not None:
        reason["code"] = str(category)
    if display:
        reason["display"] = str(display)
    return reason


def checked_item(item: dict) -> dict:
    """The item as the store keeps it, or an ApiError whose field is relative to the item."""
    validate(_ITEM, item)
    override = override_reason(item)
    named = "overrideReason" if item.get("overrideReason") or "overrideReasons" not in item else "overrideReasons"
    texts = {"card": item["card"], "outcomeTimestamp": item["outcomeTimestamp"],
             f"{named}.userComment": override.get("userComment"),
             **{f"{named}.reason.{k}": v for k, v in (override.get("reason") or {}).items()
                if k in ("code", "system", "display")},
             **{f"acceptedSuggestions[{i}].id": s["id"] for i, s in enumerate(item.get("acceptedSuggestions") or [])}}
    limits = {"card": _LIMITS["card"], f"{named}.reason.code": _LIMITS["code"]}
    for field, value in texts.items():
        limit = limits.get(field, _LIMITS["text"])
        if isinstance(value, str) and len(value) > limit:  # Epic's extension values have no schema of their own
            raise ApiError(400, "invalid_request", f"is longer than {limit} characters", field)
        if isinstance(value, str):
            if "\x00" in value:
                raise ApiError(400, "invalid_request", "has a NUL character", field)
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ApiError(400, "invalid_request", "has a lone surrogate (not Unicode text)", field) from None
    return {**item, "overrideReason": override, "outcomeTimestamp": utc_instant(item["outcomeTimestamp"])}


def _with_offered_display(item: dict, catalog) -> dict:
    """A reason sent as a code alone gets the display the card offered, so governance shows words, not codes."""
    reason = (item.get("overrideReason") or {}).get("reason") or {}
    if reason.get("code") and not reason.get("display") and reason.get("system") in (
            None, catalog.common["override_reason_system"]) and catalog.override_display(reason["code"]):
        reason = {**reason, "display": catalog.override_display(reason["code"])}
        return {**item, "overrideReason": {**item["overrideReason"], "reason": reason}}
    return item


def utc_instant(value: str) -> str:
    """An ISO 8601 date-time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC (sortable; one spelling per instant);
    digits beyond microseconds are dropped. ApiError when it names no real instant (30 February, year 0)."""
    if not value.isascii():  # the schema's pattern asks for ASCII digits; say so rather than misread others
        raise ApiError(400, "invalid_request", "is not a real date and time", "outcomeTimestamp")
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    date_part, sep, rest = text.partition("T")
    if "." in rest:  # fromisoformat takes at most 6 fractional digits on older Pythons; be explicit
        whole, _, tail = rest.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        rest = f"{whole}.{tail[:digits][:6].ljust(6, '0')}{tail[digits:]}"
    try:
        instant = datetime.fromisoformat(date_part + sep + rest).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_request", "is not a real date and time", "outcomeTimestamp") from None
    return instant.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
