"""Reading untrusted FHIR leniently: a field that should be a list but is not is read as empty."""
from __future__ import annotations

from datetime import date
from typing import Any


def items(value: Any) -> list:
    """``value`` if it is a list, else ``[]`` (so ``coding: true`` or ``entry: 5`` never raises)."""
    return value if isinstance(value, list) else []


def parse_date(value: Any) -> date | None:
    """The date part of a FHIR date or dateTime ("2026", "2026-11", "2026-11-08T09:30:00Z"); None if unreadable."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    try:
        if len(value) == 4:
            return date(int(value), 1, 1)
        if len(value) == 7:
            return date(int(value[:4]), int(value[5:7]), 1)
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
