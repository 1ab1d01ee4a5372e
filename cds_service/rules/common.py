"""Small helpers the rules share: how a medication and its dose read in a card."""
from __future__ import annotations

from ..knowledge.medication import MedicationUse


def num(value: float | None) -> str:
    """A number as a pharmacist writes it: 30, 7.5, 0.025 (no trailing zeros)."""
    if value is None:
        return "unknown"
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"


def when_text(use: MedicationUse) -> str:
    if use.role == "draft":
        return "being ordered now"
    kind = {"MedicationRequest": "order", "MedicationOrder": "order", "MedicationStatement": "statement",
            "MedicationDispense": "dispense"}.get(use.resource_type, "record")
    since = f" since {use.start.isoformat()}" if use.start else ""
    if use.role == "current":
        return f"current {kind}{since}"
    until = f" until {use.end.isoformat()}" if use.end else ""
    return f"past {kind}{since}{until}"


def medication_item(use: MedicationUse) -> dict:
    """Fields that describe one medication in a card list."""
    return {"name": use.display, "ref": use.ref, "when": when_text(use)}
