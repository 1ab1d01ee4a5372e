"""Daily dose per ingredient from FHIR ``dosageInstruction`` (RULES.md 1.3).

Reads R4-shaped Dosage dictionaries (``cds_service.fhir.versions`` turns DSTU2 and STU3 into that shape) and
never raises on odd data: a dose that cannot be computed is returned with ``complete=False`` and a reason,
never as zero.

- Doses per day: ``frequencyMax`` else ``frequency`` over ``period``/``periodUnit``; else the count of
  ``timeOfDay``/``when``; else a standard timing code (BID, TID...); else 1. PRN orders count at their
  maximum frequency, which is what ``frequencyMax`` and the shortest ``period`` give.
- Dose: ``doseQuantity`` else the high end of ``doseRange``; of several ``doseAndRate`` entries the one typed
  ``ordered``, else the first. Units: the UCUM ``code``, then ``unit``.
- ``maxDosePerPeriod`` caps the daily amount. Entries of one ``sequence`` are taken together (summed);
  entries of different sequences follow each other, so the highest is used.
- Patches: the rate in mcg/h times the number of patches, whatever the change interval.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .drugs import Component, Ingredient, Product
from .lenient import items

_TABLES = json.loads((Path(__file__).parent / "data" / "dosing.json").read_text(encoding="utf-8"))
PERIOD_DAYS: dict[str, float] = _TABLES["period_unit_days"]
TIMING_CODES: dict[str, float] = _TABLES["timing_code_doses_per_day"]
MASS_MG: dict[str, float] = _TABLES["mass_units_mg"]
VOLUME_ML: dict[str, float] = _TABLES["volume_units_ml"]
COUNT_UNITS = frozenset(_TABLES["count_units"])
ACTUATION_UNITS = frozenset(_TABLES["actuation_units"])


@dataclass(frozen=True)
class IngredientDose:
    ingredient: Ingredient
    mg_per_day: float | None
    mcg_per_hour: float | None = None  # transdermal patches


@dataclass(frozen=True)
class DailyDose:
    ingredients: tuple[IngredientDose, ...]
    doses_per_day: float | None
    dose_value: float | None  # one dose, in dose_unit
    dose_unit: str
    prn: bool
    complete: bool
    problem: str | None = None

    def for_ingredient(self, name: str) -> IngredientDose | None:
        return next((d for d in self.ingredients if d.ingredient.name == name), None)


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _unit(quantity: dict) -> str:
    return str(quantity.get("code") or quantity.get("unit") or "").strip().lower()


def doses_per_day(dosage: dict) -> float:
    """How many doses a day one Dosage allows (maximum frequency for PRN orders)."""
    timing = dosage.get("timing") if isinstance(dosage.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
    frequency = _float(repeat.get("frequencyMax")) or _float(repeat.get("frequency"))
    period = _float(repeat.get("period"))
    unit = repeat.get("periodUnit")
    if period and period > 0 and unit in PERIOD_DAYS:
        return (frequency or 1.0) / (period * PERIOD_DAYS[unit])
    when = [w for w in (items(repeat.get("timeOfDay"))) + (items(repeat.get("when"))) if isinstance(w, str)]
    if when:
        return float(len(when)) * (frequency or 1.0)
    code = timing.get("code") if isinstance(timing.get("code"), dict) else {}
    for coding in items(code.get("coding")):
        if isinstance(coding, dict) and str(coding.get("code", "")).upper() in TIMING_CODES:
            return TIMING_CODES[str(coding["code"]).upper()]
    if isinstance(code.get("text"), str) and code["text"].strip().upper() in TIMING_CODES:
        return TIMING_CODES[code["text"].strip().upper()]
    return frequency or 1.0


def _dose_quantity(dosage: dict) -> dict | None:
    raw = dosage.get("doseAndRate")
    if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], dict):
        chosen = raw[0]  # the usual case: one entry
    else:
        entries = [e for e in raw or [] if isinstance(e, dict)] if isinstance(raw, list) else []
        chosen = next((e for e in entries if _is_ordered(e)), entries[0] if entries else None)
    if chosen is None:
        return None
    if isinstance(chosen.get("doseQuantity"), dict):
        return chosen["doseQuantity"]
    dose_range = chosen.get("doseRange")
    if isinstance(dose_range, dict) and isinstance(dose_range.get("high"), dict):
        return dose_range["high"]
    return None


def _is_ordered(entry: dict) -> bool:
    kind = entry.get("type")
    return isinstance(kind, dict) and any(
        isinstance(c, dict) and c.get("code") == "ordered" for c in items(kind.get("coding")))


def _amount_mg(component: Component, value: float, unit: str, is_single: bool) -> float | None:
    """mg of one ingredient in a dose of ``value`` ``unit``; None when the units do not fit the product."""
    if unit in MASS_MG:
        return value * MASS_MG[unit] if is_single else None
    if component.strength_mg is None:
        return None
    if unit in VOLUME_ML:
        return value * VOLUME_ML[unit] * component.strength_mg if component.per == "mL" else None
    if unit in COUNT_UNITS or unit == "":
        if component.per in ("unit", "h"):
            return value * component.strength_mg
        if component.per == "actuation" and (unit in ACTUATION_UNITS or unit in ("1", "")):
            return value * component.strength_mg
    return None


def _cap_per_day(dosage: dict) -> tuple[float, str] | None:
    ratio = dosage.get("maxDosePerPeriod")
    if isinstance(ratio, list):  # R5 makes it a list
        ratio = ratio[0] if ratio else None
    if not isinstance(ratio, dict):
        return None
    num, den = ratio.get("numerator"), ratio.get("denominator")
    if not isinstance(num, dict) or not isinstance(den, dict):
        return None
    amount, span = _float(num.get("value")), _float(den.get("value"))
    days = PERIOD_DAYS.get(str(den.get("code") or den.get("unit") or "").strip())
    if amount is None or not span or span <= 0 or days is None:
        return None
    return amount / (span * days), _unit(num)


def _cap_in_dose_units(cap: tuple[float, str], unit: str, components: tuple[Component, ...]) -> float:
    """A maxDosePerPeriod cap expressed in the dose's own unit (a cap in mg on a tablet dose is converted with
    the strength of a single-ingredient product); ``inf`` when the units cannot be related."""
    amount, cap_unit = cap
    if cap_unit == unit or cap_unit in ("", "1") or (cap_unit in COUNT_UNITS and unit in COUNT_UNITS):
        return amount
    if cap_unit in MASS_MG and unit in MASS_MG:
        return amount * MASS_MG[cap_unit] / MASS_MG[unit]
    if cap_unit in MASS_MG and len(components) == 1 and components[0].strength_mg:
        strength = components[0].strength_mg
        if components[0].per in ("unit", "actuation") and (unit in COUNT_UNITS or unit == ""):
            return amount * MASS_MG[cap_unit] / strength
        if components[0].per == "mL" and unit in VOLUME_ML:
            return amount * MASS_MG[cap_unit] / strength / VOLUME_ML[unit]
    return float("inf")


def daily_dose(dosages: list[Any] | None, product: Product) -> DailyDose:
    """The daily amount of each ingredient of ``product`` under ``dosages`` (a dosageInstruction list).

    Never raises: a dosage too malformed to read gives an incomplete dose, so the medication still counts."""
    try:
        return _daily_dose(dosages, product)
    except (TypeError, ValueError, AttributeError, KeyError, ZeroDivisionError, OverflowError):
        return _incomplete(product, False, "dosage could not be read")


def _daily_dose(dosages: list[Any] | None, product: Product) -> DailyDose:
    if not isinstance(dosages, list):
        dosages = [dosages] if isinstance(dosages, dict) else []
    entries = [d for d in dosages or [] if isinstance(d, dict)]
    prn = any(d.get("asNeededBoolean") is True or isinstance(d.get("asNeededCodeableConcept"), dict)
              or d.get("asNeeded") is True for d in entries)
    if not entries:
        return _incomplete(product, prn, "no dosage instruction")
    if len(entries) == 1:
        return _group_dose(entries, product, prn)
    groups: dict[Any, list[dict]] = {}
    for d in entries:
        groups.setdefault(d.get("sequence"), []).append(d)
    best: DailyDose | None = None
    for group in groups.values():
        result = _group_dose(group, product, prn)
        if not result.complete:
            return result
        if best is None or _total(result) > _total(best):
            best = result
    assert best is not None
    return best


def _total(dose: DailyDose) -> float:
    return sum((d.mcg_per_hour or d.mg_per_day or 0.0) for d in dose.ingredients)


def _group_dose(group: list[dict], product: Product, prn: bool) -> DailyDose:
    components = product.components
    mg_totals = [0.0] * len(components)
    rate_totals = [0.0] * len(components)
    single = len(components) == 1
    patch = product.form.patch
    per_day = value = None
    unit = ""
    for dosage in group:
        quantity = _dose_quantity(dosage)
        if quantity is None:
            if product.form.patch:
                quantity = {"value": 1, "code": "{patch}"}
            else:
                return _incomplete(product, prn, "no structured dose (free-text sig)")
        value = _float(quantity.get("value"))
        unit = _unit(quantity)
        if value is None or value < 0:
            return _incomplete(product, prn, "dose has no numeric value")
        per_day = doses_per_day(dosage)
        daily_units = value * per_day
        if (cap := _cap_per_day(dosage)) is not None:
            daily_units = min(daily_units, _cap_in_dose_units(cap, unit, components))
        for i, component in enumerate(components):
            if patch and component.per == "h":
                rate = _amount_mg(component, value, unit, single)
                if rate is None:
                    return _incomplete(product, prn, f"patch dose in '{unit}' cannot be read")
                rate_totals[i] += rate * 1000
                mg_totals[i] += rate * 24
                continue
            amount = _amount_mg(component, daily_units, unit, single)
            if amount is None:
                why = "product strength unknown" if component.strength_mg is None else f"dose unit '{unit}' does not fit"
                return _incomplete(product, prn, f"{component.ingredient.name}: {why}")
            mg_totals[i] += amount
    doses = tuple(IngredientDose(c.ingredient, mg_totals[i], rate_totals[i] if patch and c.per == "h" else None)
                  for i, c in enumerate(components))
    return DailyDose(doses, per_day, value, unit, prn, True)


def _incomplete(product: Product, prn: bool, problem: str) -> DailyDose:
    return DailyDose(tuple(IngredientDose(c.ingredient, None) for c in product.components),
                     None, None, "", prn, False, problem)
