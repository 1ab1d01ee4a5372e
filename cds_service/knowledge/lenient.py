"""Reading untrusted FHIR leniently: a field that should be a list but is not is read as empty."""
from __future__ import annotations

from typing import Any


def items(value: Any) -> list:
    """``value`` if it is a list, else ``[]`` (so ``coding: true`` or ``entry: 5`` never raises)."""
    return value if isinstance(value, list) else []
