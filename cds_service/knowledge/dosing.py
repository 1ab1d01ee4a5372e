"""Daily dose per ingredient from FHIR ``dosageInstruction`` (docs/clinical-rules.md §1.3).

Reads R4-shaped Dosage dictionaries (``cds_service.fhir.versions`` turns DSTU2 and STU3 into that shape) and
never raises on odd data: a dose that cannot be computed is returned with ``complete=False`` and a reason,
never as zero.

- Doses per day: ``frequencyMax`` else ``frequency`` over ``period``/``periodUnit``; else the count of
  ``timeOfDay``/``when``; else ``timing.code`` (GTS abbreviations and the text forms EHRs send: "Q6H PRN",
  "EVERY 72 HOURS", "0900 & 1800"). When ``timing.repeat`` and ``timing.code`` both say and disagree, or
  nothing says, the schedule is unknown and the dose incomplete: never a silent once a day (docs/clinical-rules.md §5).
  PRN orders count at their maximum frequency (``frequencyMax``, the shortest interval of "Q4-6H").
- Dose: ``doseQuantity`` else the high end of ``doseRange``; of several ``doseAndRate`` entries the one typed
  ``ordered``, else the first; else Epic's ``ordered-dose`` then ``admin-amount`` extensions. Units: the UCUM
  ``code``; the ``unit`` text when the code is in another (local) system.
- ``maxDosePerPeriod`` caps the daily amount, and the doses a day are the capped number, so that one dose is
  always the daily total divided by the doses a day. Entries of one ``sequence`` are taken together (summed);
  entries of different sequences follow each other, so the highest is used.
- Patches: the rate in mcg/h times the number of patches, whatever the change interval; a dose written as a
  rate (``25 mcg/h``, ``ug/h``) is that rate.
- A dose or period of zero or less, or a number too large to compute with, makes the dose incomplete.
"""
from __future__ import annotations

import json
import math
import re
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
RATE_UNITS: dict[str, float] = _TABLES["rate_units_mg_per_hour"]
UCUM_SYSTEMS = frozenset(_TABLES["ucum_systems"])
EPIC_DOSE_EXTENSIONS: list[str] = _TABLES["epic_dose_extensions"]
_IGNORED_RE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in _TABLES["timing_text_ignored_words"]) + r")\b")
_EVERY_HOURS_RE = re.compile(r"^(?:Q|EVERY)\s*(\d+(?:\.\d+)?)(?:\s*\(\w+\))?\s*(?:(?:-|TO)\s*(\d+(?:\.\d+)?)(?:\s*\(\w+\))?\s*)?(?:H|HR|HRS|HOURS?)$")
_EVERY_DAYS_RE = re.compile(r"^(?:Q|EVERY)\s*(\d+)(?:\s*\(\w+\))?\s*(?:D|DAYS?)$")
_TIMES_RE = re.compile(r"^(\d+)(?:\s*\(\w+\))?\s*TIMES\s*(?:A|PER|EACH)?\s*(?:DAY|DAILY)$")
_CLOCK_RE = re.compile(r"^\d{1,2}:?\d{2}(?:\s*(?:&|,|AND)\s*\d{1,2}:?\d{2})+$")


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
    try:
        number = float(value) if isinstance(value, (int, float, str)) else None
    except (ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) else None


def _unit(quantity: dict) -> str:
    """The UCUM code; the unit text when the code belongs to another (local) system."""
    system = quantity.get("system")
    if system and str(system) not in UCUM_SYSTEMS and quantity.get("unit"):
        return str(quantity["unit"]).strip().lower()
    code = str(quantity.get("code") or "").strip().lower()
    text = str(quantity.get("unit") or "").strip().lower()
    if code and text and ((code in MASS_MG) != (text in MASS_MG)) and (code in COUNT_UNITS or text in COUNT_UNITS):
        return "?"  # "mg" over "{tbl}": a mass or a count, the dose cannot be told
    return code or text


def timing_code_doses(text: str) -> float | None:
    """Doses a day a ``timing.code`` code or text gives ("BID", "Q6H PRN", "every 6 (six) hours"); None when
    it cannot be read."""
    words = " ".join(_IGNORED_RE.sub(" ", text.upper()).replace(",", " ").split())
    if not words:
        return None
    if words in TIMING_CODES:
        return float(TIMING_CODES[words])
    if m := _EVERY_HOURS_RE.match(words):
        hours = min(float(m.group(1)), float(m.group(2) or m.group(1)))  # "Q4-6H": as often as allowed
        return 24.0 / hours if hours > 0 else None
    if m := _EVERY_DAYS_RE.match(words):
        return 1.0 / int(m.group(1)) if int(m.group(1)) > 0 else None
    if m := _TIMES_RE.match(words):
        return float(m.group(1)) if int(m.group(1)) > 0 else None
    if _CLOCK_RE.match(words):
        return float(len(re.findall(r"\d{1,2}:?\d{2}", words)))
    return None


def doses_per_day(dosage: dict) -> float | None:
    """How many doses a day one Dosage allows (maximum frequency for PRN orders); None when it does not say or
    its parts disagree."""
    timing = dosage.get("timing") if isinstance(dosage.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else {}
    frequency = _float(repeat.get("frequencyMax")) or _float(repeat.get("frequency"))
    if frequency is not None and frequency <= 0:
        return None
    from_repeat = None
    period, unit = _float(repeat.get("period")), repeat.get("periodUnit")
    if period is not None and unit in PERIOD_DAYS:
        if period <= 0:
            return None
        from_repeat = (frequency or 1.0) / (period * PERIOD_DAYS[unit])
    else:
        when = [w for w in items(repeat.get("timeOfDay")) + items(repeat.get("when")) if isinstance(w, str)]
        if when:
            from_repeat = float(len(when)) * (frequency or 1.0)
    code = timing.get("code") if isinstance(timing.get("code"), dict) else {}
    texts = [str(c.get("code")) for c in items(code.get("coding")) if isinstance(c, dict) and c.get("code")]
    texts += [code["text"]] if isinstance(code.get("text"), str) else []
    from_code = next((v for v in map(timing_code_doses, texts) if v is not None), None)
    if from_repeat is not None and from_code is not None and abs(from_repeat - from_code) > 1e-6 * from_code:
        return None
    result = from_repeat if from_repeat is not None else from_code
    return result if result is not None and math.isfinite(result) and result > 0 else None


def _dose_quantity(dosage: dict) -> dict | None:
    raw = dosage.get("doseAndRate")
    if isinstance(raw, list) and len(raw) == 1 and isinstance(raw[0], dict):
        chosen = raw[0]  # the usual case: one entry
    else:
        entries = [e for e in raw or [] if isinstance(e, dict)] if isinstance(raw, list) else []
        chosen = next((e for e in entries if _is_ordered(e)), entries[0] if entries else None)
    if chosen is None:
        for url in EPIC_DOSE_EXTENSIONS:
            ext = next((e for e in items(dosage.get("extension")) if isinstance(e, dict) and e.get("url") == url), None)
            if ext is not None and isinstance(ext.get("valueQuantity"), dict):
                return ext["valueQuantity"]
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
    if unit in COUNT_UNITS or (unit == "" and component.per == "h"):
        # A dose with no unit at all is a count only for a patch ("1"): "10" of a 10 mg tablet may be 10 mg.
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


def is_prn(dosages: Any) -> bool:
    """As needed (asNeededBoolean, asNeededCodeableConcept, R5 asNeeded)."""
    return any(isinstance(d, dict) and (d.get("asNeededBoolean") is True or isinstance(d.get("asNeededCodeableConcept"), dict)
                                        or d.get("asNeeded") is True) for d in items(dosages))


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
    prn = is_prn(entries)
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
        if value is None or value <= 0:
            return _incomplete(product, prn, "dose has no positive numeric value")
        per_day = doses_per_day(dosage)
        if per_day is None and not patch:
            return _incomplete(product, prn, "schedule not stated or contradictory (timing)")
        daily_units = value * (per_day or 0.0)
        if per_day and (cap := _cap_per_day(dosage)) is not None:
            daily_units = min(daily_units, _cap_in_dose_units(cap, unit, components))
            per_day = daily_units / value  # the doses a day the cap allows: one dose = daily total / doses a day
        for i, component in enumerate(components):
            if patch and (component.per == "h" or (single and unit in RATE_UNITS)):
                rate = value * RATE_UNITS[unit] if unit in RATE_UNITS else _amount_mg(component, value, unit, single)
                if rate is None or not math.isfinite(rate):
                    return _incomplete(product, prn, f"patch dose in '{unit}' cannot be read")
                rate_totals[i] += rate * 1000
                mg_totals[i] += rate * 24
                continue
            amount = _amount_mg(component, daily_units, unit, single)
            if amount is None or not math.isfinite(amount):
                why = "product strength unknown" if component.strength_mg is None else f"dose unit '{unit}' does not fit"
                return _incomplete(product, prn, f"{component.ingredient.name}: {why}")
            mg_totals[i] += amount
    doses = tuple(IngredientDose(c.ingredient, mg_totals[i], rate_totals[i] if patch and (c.per == "h" or rate_totals[i]) else None)
                  for i, c in enumerate(components))
    return DailyDose(doses, per_day, value, unit, prn, True)


def _incomplete(product: Product, prn: bool, problem: str) -> DailyDose:
    return DailyDose(tuple(IngredientDose(c.ingredient, None) for c in product.components),
                     None, None, "", prn, False, problem)
