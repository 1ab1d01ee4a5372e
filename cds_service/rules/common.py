"""Small helpers the rules share: how a medication, its dose, a creatinine clearance, an order's length and a
pregnancy read in a card."""
from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from ..knowledge.lenient import items, parse_date
from ..knowledge.observations import (PREGNANCY_LOOKBACK_DAYS, PREGNANCY_STATUS, PREGNANT, condition_date,
                                      group_codes, is_result, result_date)
from ..knowledge.medication import MedicationUse
from ..knowledge.patient import condition_is_active


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


LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


# -- orders, opioid use disorder and pregnancy, as the second-wave rules read them ------------------------------------------------------------------------------------------------
def course_days(use: Any) -> float | None:
    """How long the order lasts, in days: its stated or computed supply (``MedicationUse.supply_days``:
    expected supply duration, timing bounds, quantity over daily use); when none can be had, the length of
    ``dispenseRequest.validityPeriod`` (CDC opioid CDS IG, OpioidCDSRoutines: "days between
    prescription.dispenseRequest.validityPeriod.start and ... .end"). A known supply wins over the validity
    period: a 7-day supply that may be filled within 6 months is a 7-day course."""
    days = use.supply_days
    if days is not None:
        return days
    request = use.order.get("dispenseRequest")
    period = request.get("validityPeriod") if isinstance(request, dict) else None
    if isinstance(period, dict):
        start, end = parse_date(period.get("start")), parse_date(period.get("end"))
        if start is not None and end is not None and end >= start:
            return float((end - start).days)
    return None


def for_opioid_use_disorder(facts: Any, use: Any) -> bool:
    """A medication for opioid use disorder given for it: buprenorphine as given for OUD and extended-release
    naltrexone (``Product.is_moud``); methadone only when its reason (or, without a reason, an active
    Condition) is opioid use disorder: methadone for pain is an analgesic."""
    product = use.product
    if product is None or not product.is_moud:
        return False
    if "methadone" not in product.ingredient_names:
        return True
    return facts.indicated_for(use, "opioid_use_disorder") or facts.indicated_for(use, "opioid_misuse_disorders")


def _codings(concept: Any) -> list[dict]:
    return [c for c in items(concept.get("coding")) if isinstance(c, dict)] if isinstance(concept, dict) else []


def concept_label(concept: Any) -> str:
    """A concept as a card names it: its words and first code ("Supervision of normal pregnancy (Z34.83)")."""
    if not isinstance(concept, dict):
        return "a record"
    codings = _codings(concept)
    words = concept.get("text") if isinstance(concept.get("text"), str) and concept["text"] else next(
        (str(c["display"]) for c in codings if isinstance(c.get("display"), str) and c["display"]), "")
    code = next((str(c["code"]) for c in codings if c.get("code")), "")
    if words and code:
        return f"{words} ({code})"
    return words or code or "a record"


def condition_dated(condition: dict) -> str:
    """When a Condition was recorded, as a card line says it: "recorded 2026-10-01", "onset ...", or that no date
    was recorded."""
    for key, word in (("recordedDate", "recorded"), ("onsetDateTime", "onset"), ("assertedDate", "recorded"),
                      ("dateRecorded", "recorded")):
        when = parse_date(condition.get(key))
        if when is not None:
            return f"{word} {when.isoformat()}"
    return "date not recorded"


def under_age(facts: Any, rule_id: str, min_age: int, why: str = "") -> bool:
    """The patient is younger than ``min_age``, or the age is unknown (then the rule says so): a rule for adults
    (or for patients 12 and older) stays silent either way."""
    if facts.age is None:
        facts.unknown(rule_id, "age: no birth date" + (f" ({why})" if why else ""))
        return True
    return facts.age < min_age


def pregnancy_evidence(facts: Any) -> str:
    """The newest record that shows the pregnancy, as the card cites it: the Condition and its date, or the
    pregnancy-status Observation and its date, else a gestational-age Observation (the records
    ``facts.pregnancy`` reads, in the same 42-week look-back)."""
    since = facts.today - timedelta(days=PREGNANCY_LOOKBACK_DAYS)
    found: list[tuple[date, str]] = []  # Conditions and pregnancy-status results: what says "pregnant"
    dated: list[tuple[date, str]] = []  # gestational-age results: cited only when nothing else is on record
    for c in facts.conditions:
        if not isinstance(c, dict) or not condition_is_active(c, facts.today):
            continue
        if not facts.lists["pregnancy"].matches_concept(c.get("code")):
            continue
        when = condition_date(c)
        if when is not None and not since <= when <= facts.today:
            continue
        found.append((when or date.min, f"Condition {concept_label(c.get('code'))}, " + (
            f"recorded {when.isoformat()}" if when else "no date recorded")))
    gestational = group_codes("gestational_age")
    for obs in facts.observations:
        if not is_result(obs):
            continue
        when = result_date(obs)
        if when is None or not since <= when <= facts.today:
            continue
        codes = {(c.get("system"), str(c.get("code"))) for c in _codings(obs.get("code"))}
        if (LOINC, PREGNANCY_STATUS) in codes and any(
                c.get("system") == SNOMED and str(c.get("code")) == PREGNANT
                for c in _codings(obs.get("valueCodeableConcept"))):
            found.append((when, f"Observation {concept_label(obs.get('code'))}: "
                                f"{concept_label(obs.get('valueCodeableConcept'))}, {when.isoformat()}"))
        elif any(system == LOINC and code in gestational for system, code in codes):
            dated.append((when, f"Observation {concept_label(obs.get('code'))}, {when.isoformat()}"))
    if not found and not dated:
        return "a pregnancy record"
    return max(found or dated, key=lambda f: f[0])[1]


def weeks_and_days(weeks: float) -> str:
    """A gestational age as obstetrics writes it: completed weeks and days ("24 weeks 3 days")."""
    total = int(math.floor(weeks * 7 + 1e-6))
    w, d = divmod(total, 7)
    return f"{w} weeks {d} days" if d else f"{w} weeks"


def gestational_age(pregnancy: Any, max_weeks: float) -> tuple[float | None, str]:
    """(weeks today, or None when unknown or implausible; the words for the card)."""
    if pregnancy.weeks is None:
        return None, "unknown"
    if pregnancy.weeks > max_weeks:
        return None, "unknown"
    return pregnancy.weeks, f"about {weeks_and_days(pregnancy.weeks)} today ({pregnancy.how})"
