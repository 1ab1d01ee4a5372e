"""Reading the CDC opioid CDS test requests (cqframework/opioid-cds-r4) as they are published.

They prefetch under keys of their own (``item1``..``item16``), sometimes leave ``item*`` keys beside
``prefetch`` at the top level, and date their records for a day in the past with the extension
``dataDateRoller`` ("dateLastUpdated": the day the dates are true for), meaning that every date in that resource
moves forward by the days since then, a birth date included, as the CDC's own roller (cqf-tooling
``ResourceDataDateRoller``) rolls every date of a marked resource: a test patient keeps the age it was written
with. A service that reads them as written would see a three-year-old
patient record, or refuse the call. Nothing here applies to a request without these markers.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from ..knowledge.lenient import items, parse_date

DATE_ROLLER = "http://fhir.org/guides/cdc/opioid-cds/StructureDefinition/dataDateRoller"
_SITE_KEY = re.compile(r"item\d{1,3}")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(.*)", re.S)


def prefetch_of(body: dict) -> dict | None:
    """The request's prefetch, with any ``item*`` keys the CDC files leave at the top level."""
    prefetch = body.get("prefetch")
    strays = {k: v for k, v in body.items() if _SITE_KEY.fullmatch(k) and (v is None or isinstance(v, dict))}
    if not strays:
        return prefetch
    return {**strays, **(prefetch if isinstance(prefetch, dict) else {})}


def _last_updated(resource: dict) -> date | None:
    for ext in items(resource.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == DATE_ROLLER:
            for part in items(ext.get("extension")):
                if isinstance(part, dict) and part.get("url") == "dateLastUpdated":
                    return parse_date(part.get("valueDateTime") or part.get("valueDate"))
    return None


def _shift(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {k: v if k == "extension" and _is_roller_list(v) else _shift(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, days) for v in value]
    if isinstance(value, str) and (m := _DATE.fullmatch(value)):
        day = parse_date(m.group(1))
        return (day + timedelta(days=days)).isoformat() + m.group(2) if day else value
    return value


def _is_roller_list(value: Any) -> bool:
    return any(isinstance(e, dict) and e.get("url") == DATE_ROLLER for e in items(value))


def roll_dates(resource: Any, today: date) -> Any:
    """The resource with its dates moved forward to today when it carries the dataDateRoller extension."""
    if not isinstance(resource, dict):
        return resource
    last = _last_updated(resource)
    if last is None or last >= today:
        return resource
    return _shift(resource, (today - last).days)


def _resources(value: Any) -> list:
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        return [e.get("resource") for e in items(value.get("entry")) if isinstance(e, dict)]
    return items(value) if isinstance(value, list) else [value]


def _roll(value: Any, today: date) -> Any:
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        return {**value, "entry": [{**e, "resource": roll_dates(e.get("resource"), today)} if isinstance(e, dict)
                                   else e for e in items(value.get("entry"))]}
    if isinstance(value, list):
        return [roll_dates(v, today) for v in value]
    return roll_dates(value, today)


def roll_request(body: dict, today: date) -> dict:
    """The request with every rolled resource (drafts, prefetch, their Bundle entries) moved to today; the
    same object when none carries the extension."""
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    prefetch = prefetch_of(body)
    values = [context.get(k) for k in ("draftOrders", "medications")]
    values += list(prefetch.values()) if isinstance(prefetch, dict) else []
    if not any(isinstance(r, dict) and _last_updated(r) for v in values for r in _resources(v)):
        return body
    out = {**body, "context": {k: _roll(v, today) if k in ("draftOrders", "medications") else v
                               for k, v in context.items()}}
    if isinstance(prefetch, dict):
        out["prefetch"] = {k: _roll(v, today) for k, v in prefetch.items()}
    return out
