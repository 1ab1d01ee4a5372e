"""The medication-name table (medication_names.csv) and how a reading of one row is scored.

Each row is a name as an EHR or a prescriber writes it, with what a pharmacist reads from it (ingredients in
written order, strengths, route, release, patch; ``?`` where the text cannot tell). A reading of a row is
*right* when every field the pharmacist knows is read the same, *incomplete* when some are left unknown but none
is read differently, and *wrong* when any field is read with a value the pharmacist would not give: that last
share must be zero (docs/clinical-rules.md §5: a wrong number is worse than no number).
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).parent / "medication_names.csv"
_PER = {"mg": ("unit", 1.0), "mg/mL": ("mL", 1.0), "mcg/h": ("h", 1000.0), "mg/actuation": ("actuation", 1.0)}


@dataclass(frozen=True)
class Score:
    verdict: str  # "right", "incomplete", "wrong"
    notes: tuple[str, ...]


def rows() -> list[dict]:
    with TABLE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def concept_of(row: dict) -> dict:
    if row["code"]:
        coding = {"system": row["code_system"], "code": row["code"]}
        if row["text"]:
            coding["display"] = row["text"]
        return {"coding": [coding]}
    return {"text": row["text"]}


def score(row: dict, product) -> Score:
    wrong: list[str] = []
    missing: list[str] = []
    names = [n.strip() for n in row["ingredients"].split(";")]
    if product is None:
        return Score("incomplete", ("not recognised",))
    if set(product.ingredient_names) != set(names):
        return Score("wrong", (f"ingredients {sorted(product.ingredient_names)} != {sorted(names)}",))
    strengths = row["strengths"].split(";") if row["strengths"] else [""] * len(names)
    units = row["strength_units"].split(";") if row["strength_units"] else [""] * len(names)
    by_name = {c.ingredient.name: c for c in product.components}
    for name, value, unit in zip(names, strengths, units):
        component = by_name[name]
        if not value.strip():
            if component.strength_mg is not None:
                wrong.append(f"{name}: read {component.strength_mg} though the text states no strength")
            continue
        if component.strength_mg is None:
            missing.append(f"{name} strength")
            continue
        per, factor = _PER.get(unit.strip(), (None, 1.0))
        got = component.strength_mg * factor
        if component.per != per or abs(got - float(value)) > 1e-6 * max(1.0, float(value)):
            wrong.append(f"{name}: {got} per {component.per} != {value} {unit}")
    form = product.form
    if row["route"] != "?":
        if not form.route:
            missing.append("route")
        elif form.route != row["route"]:
            wrong.append(f"route {form.route} != {row['route']}")
    if row["extended_release"] != "?":
        expected = row["extended_release"] == "true"
        if not form.release_known:
            missing.append("release")
        elif form.extended_release != expected:
            wrong.append(f"extended release {form.extended_release} != {expected}")
    if row["patch"] != "?":
        expected = row["patch"] == "true"
        if form.patch != expected:
            (wrong if form.route else missing).append(f"patch {form.patch} != {expected}")
    if wrong:
        return Score("wrong", tuple(wrong))
    return Score("incomplete" if missing else "right", tuple(missing))
