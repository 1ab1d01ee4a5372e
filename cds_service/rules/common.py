"""Small helpers the rules share: how a medication and its dose read in a card."""
from __future__ import annotations

from typing import Any

from ..knowledge.medication import MedicationUse


def num(value: float | None) -> str:
    """A number as a pharmacist writes it: 30, 7.5, 0.025 (no trailing zeros)."""
    if value is None:
        return "unknown"
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"


def medication_item(use: MedicationUse) -> dict:
    """Fields that describe one medication in a card list (the card renderer words "when" from them)."""
    return {"name": use.display, "ref": use.ref, "role": use.role, "kind": use.resource_type,
            "start": use.start.isoformat() if use.start else None, "end": use.end.isoformat() if use.end else None}


def has_id(use: MedicationUse) -> bool:
    """Only a draft with an id can be removed by a suggestion."""
    return use.role == "draft" and "#" not in use.ref


def mme_items(lines) -> list[dict]:
    """One card line per opioid: what it is, when, and its MME/day (or why it could not be computed)."""
    items = []
    for line in lines:
        item = medication_item(line.use)
        item["mme"] = f"{num(line.mme_per_day)} MME/day" if line.mme_per_day is not None else (
            f"MME not computable ({line.reason})")
        items.append(item)
    return items



def solid_unit(product) -> tuple[str, str]:
    """The unit a tablet or capsule product is counted in: its word and UCUM annotation."""
    return ("capsule", "{cap}") if "capsule" in product.name.lower() else ("tablet", "{tbl}")


def frequency_words(per_day: float | int) -> str:
    """1 -> "once a day", 2 -> "twice a day", 3 -> "3 times a day"."""
    if per_day == 1:
        return "once a day"
    if per_day == 2:
        return "twice a day"
    return f"{num(per_day)} times a day"


def renal_fields(renal: Any) -> dict:
    """How a card shows a creatinine clearance: the value, how it was computed and from what, with dates."""
    return {"crcl": num(round(renal.crcl, 1)), "renal_method": renal.method,
            "renal_inputs": "; ".join(f"{what} {value}" for what, value in renal.inputs),
            "renal_date": renal.when.isoformat() if renal.when else "unknown"}
