"""Reading untrusted FHIR leniently: a field that should be a list but is not is read as empty."""
from __future__ import annotations

import math
from datetime import date
from typing import Any

# Sanity bounds, not clinical thresholds: a date outside these years is a sentinel or an error ("9999-12-31" is
# how several EHRs write "no end date"), and is read as no date; a supply or duration longer than this is not
# a prescription's and is read as unknown. Bounding here keeps date arithmetic from overflowing in any rule.
EARLIEST_YEAR, LATEST_YEAR = 1800, 2200
MAX_DURATION_DAYS = 366.0


def items(value: Any) -> list:
    """``value`` if it is a list, else ``[]`` (so ``coding: true`` or ``entry: 5`` never raises)."""
    return value if isinstance(value, list) else []


def parse_date(value: Any) -> date | None:
    """The date part of a FHIR date or dateTime ("2026", "2026-11", "2026-11-08T09:30:00Z"); None if unreadable."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        if len(value) == 4:
            parsed = date(int(value), 1, 1)
        elif len(value) == 7:
            parsed = date(int(value[:4]), int(value[5:7]), 1)
        else:
            parsed = date.fromisoformat(value[:10])
    except ValueError:
        return None
    return parsed if EARLIEST_YEAR <= parsed.year <= LATEST_YEAR else None


def bounded_days(days: Any) -> float | None:
    """A number of days usable in date arithmetic: positive, finite, at most MAX_DURATION_DAYS; else None."""
    if isinstance(days, bool) or not isinstance(days, (int, float)):
        return None
    return float(days) if math.isfinite(days) and 0 < days <= MAX_DURATION_DAYS else None


def reference_parts(reference: Any) -> tuple[str, str] | None:
    """("Type", "id") of a Reference: relative "Type/id" or absolute "https://.../Type/id", with or without
    "/_history/n"; None for a contained ("#id"), urn: or display-only reference and anything else."""
    target = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(target, str) or target.startswith(("#", "urn:")):
        return None
    parts = target.split("/_history")[0].rstrip("/").rsplit("/", 2)
    if len(parts) < 2 or not parts[-2] or not parts[-1]:
        return None
    return parts[-2], parts[-1]
