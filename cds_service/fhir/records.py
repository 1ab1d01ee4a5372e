"""Reading FHIR medication records leniently (docs/clinical-rules.md §1.1): is a record current, history or ignored, and over
which days; and one resolver for the references inside a record (contained, the draft Bundle, the prefetch).

Current medications: MedicationRequest/MedicationOrder ``active`` or ``on-hold``; MedicationStatement
``active``, ``intended`` or ``taking`` (R5 ``recorded`` while its period is open); MedicationDispense whose
days' supply covers today. ``completed``/``stopped`` records are history. ``entered-in-error``, ``cancelled``,
``draft`` and the rest are ignored.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from ..knowledge.lenient import items, parse_date, reference_parts
from ..knowledge.medication import duration_days, timing_bounds
from .prefetch import PatientRecord
from .versions import to_r4

CURRENT = {
    "MedicationRequest": {"active", "on-hold"},
    "MedicationStatement": {"active", "intended", "taking"},
}
HISTORY = {"completed", "stopped"}
DISCONTINUE = {"stopped", "cancelled"}


def request_span(r4: dict, ongoing: bool) -> tuple[date | None, date | None]:
    start = parse_date(r4.get("authoredOn"))
    if ongoing and start:
        return start, None
    b_start, b_end = timing_bounds(r4)
    start = start or b_start
    if ongoing:
        return start, None
    if b_end:
        return start, b_end
    supply = duration_days((r4.get("dispenseRequest") or {}).get("expectedSupplyDuration")
                           if isinstance(r4.get("dispenseRequest"), dict) else None)
    if start and supply:
        return start, start + timedelta(days=supply - 1)
    return start, start


def statement_span(r4: dict) -> tuple[date | None, date | None]:
    period = r4.get("effectivePeriod")
    if isinstance(period, dict):
        return parse_date(period.get("start")), parse_date(period.get("end"))
    when = parse_date(r4.get("effectiveDateTime")) or parse_date(r4.get("dateAsserted"))
    return when, None


def resolve(reference: Any, record: PatientRecord, bundle: list[dict], contained: Any = None) -> dict | None:
    """The resource a Reference points to: "#id" in ``contained``, else "Type/id" (relative, absolute or with
    _history) in the prefetched record or the draft Bundle; None when it is not in the request."""
    target = reference.get("reference") if isinstance(reference, dict) else None
    if isinstance(target, str) and target.startswith("#"):
        return next((c for c in items(contained) if isinstance(c, dict) and c.get("id") == target[1:]), None)
    parts = reference_parts(reference)
    if parts is None:
        return None
    key = "/".join(parts)
    return record.find(key) or next((r for r in bundle if f"{r.get('resourceType')}/{r.get('id')}" == key), None)


def classify(res: dict, kind: str, today: date) -> tuple[str, dict, date | None, date | None] | None:
    """("current" or "history", the record in R4 shape, first day, last day), or None for a record to ignore."""
    r4 = to_r4(res)
    status = str(r4.get("status") or "")
    if kind in ("MedicationRequest", "MedicationOrder"):
        if status in CURRENT["MedicationRequest"]:
            start, end = request_span(r4, ongoing=True)
            return "current", r4, start, end
        if status in HISTORY:
            start, end = request_span(r4, ongoing=False)
            return "history", r4, start, end
        return None
    if kind == "MedicationStatement":
        if r4.get("wasNotTaken") is True or status in ("not-taken", "entered-in-error", "draft"):
            return None
        start, end = statement_span(r4)
        if status in CURRENT["MedicationStatement"] or (status == "recorded" and (end is None or end >= today)):
            if end is not None and end < today:
                return "history", r4, start, end
            return "current", r4, start, end
        if status in HISTORY or status == "recorded":
            return "history", r4, start, end or start
        return None
    # MedicationDispense
    if status in ("entered-in-error", "cancelled", "declined", "preparation", "draft"):
        return None
    start = parse_date(r4.get("whenHandedOver")) or parse_date(r4.get("whenPrepared"))
    if start is None:
        return None
    supply = duration_days(r4.get("daysSupply"))
    end = start + timedelta(days=supply - 1) if supply else start
    return ("current" if end >= today else "history"), r4, start, end
