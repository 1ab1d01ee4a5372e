"""Opioid exposure: opioid-tolerant and opioid-naive (docs/clinical-rules.md §1.4), and which current orders a draft replaces.

Opioid-tolerant (FDA labelling of transdermal fentanyl and ER/LA opioids): for one week or longer, at least
60 mg oral morphine/day, 25 mcg/h transdermal fentanyl, 30 mg oral oxycodone/day, 8 mg oral hydromorphone/day,
25 mg oral oxymorphone/day, 60 mg oral hydrocodone/day, or 60 MME/day of another opioid. Several opioids
combine as the sum of dose/threshold >= 1. These per-drug thresholds are not 60 MME/day (30 mg oxycodone is
45 MME), so they are used as written. "One week" is the start of the continuous run of opioid orders,
statements and dispenses that reaches today.

Opioid-naive (CDC opioid CDS): no opioid order, statement or dispense in the 90 days before today, ignoring
the last 24 hours (which hold the current order).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable

from .medication import MedicationUse
from .mme import medication_mme

_T = {k: v["value"] for k, v in json.loads(
    (Path(__file__).parent / "data" / "thresholds.json").read_text(encoding="utf-8")).items()}
OTHER_OPIOID_MME = float(_T["other_opioid_tolerance_mme_per_day"])
TOLERANCE_MIN_DAYS = int(_T["tolerance_min_days"])
NAIVE_LOOKBACK_DAYS = int(_T["naive_lookback_days"])

_SOURCE_RANK = {"MedicationRequest": 0, "MedicationOrder": 0, "MedicationDispense": 1, "MedicationStatement": 2}


def distinct_therapies(uses: Iterable[MedicationUse]) -> list[MedicationUse]:
    """One record per therapy: an order, its dispense and a statement about the same product count once.

    The order is preferred (it carries the prescriber's dose), then the dispense, then the statement; within
    a kind, a record whose dose is known wins over one whose dose is not.
    """
    chosen: dict[object, MedicationUse] = {}
    for use in uses:
        key = use.therapy_key() or use.ref
        if key not in chosen or _rank(use) < _rank(chosen[key]):  # the dose is only computed on a tie of keys
            chosen[key] = use
    return list(chosen.values())


def _rank(use: MedicationUse) -> tuple[int, int]:
    return _SOURCE_RANK.get(use.resource_type, 3), 0 if use.dose and use.dose.complete else 1


def same_order(reference: str | None, ref: str) -> bool:
    """``reference`` points at the order ``ref`` (a DSTU2 MedicationOrder and an R4 MedicationRequest alike)."""
    if not reference:
        return False
    def norm(r: str) -> str:
        return "/".join(r.replace("MedicationOrder/", "MedicationRequest/").split("/")[-2:])
    return norm(reference) == norm(ref)


def replaces(draft: MedicationUse, current: MedicationUse) -> bool:
    """A draft renews or changes ``current`` (docs/clinical-rules.md §1.1): priorPrescription, or same ingredient, route and
    release with both scheduled (a PRN breakthrough order never replaces a scheduled one)."""
    if same_order(draft.prior_prescription, current.ref):
        return True
    if draft.product is None or current.product is None:
        return False
    a, b = draft.product, current.product
    return (set(a.ingredient_names) == set(b.ingredient_names) and a.form.route == b.form.route
            and a.form.extended_release == b.form.extended_release and a.form.patch == b.form.patch
            and draft.scheduled and current.scheduled)  # last: the dose is only computed for the same drug


def regimen_with_drafts(current: Iterable[MedicationUse], drafts: Iterable[MedicationUse]) -> list[MedicationUse]:
    """What the patient will take once the drafts are signed: drafts replace the orders they renew."""
    drafts = list(drafts)
    kept = [c for c in distinct_therapies(current) if not any(replaces(d, c) for d in drafts)]
    return kept + drafts


@dataclass(frozen=True)
class ToleranceLine:
    use: MedicationUse
    ingredient: str
    amount: float | None  # mg/day, or mcg/h for fentanyl patches, or MME/day for "other"
    unit: str  # "mg/day", "mcg/h", "MME/day"
    threshold: float
    fraction: float | None
    reason: str | None = None


@dataclass(frozen=True)
class ToleranceAssessment:
    tolerant: bool
    fraction: float  # sum of dose/threshold over current opioids with a known dose
    days_on_opioids: int | None  # length of the continuous opioid run reaching today
    lines: tuple[ToleranceLine, ...]

    @property
    def unknown(self) -> tuple[ToleranceLine, ...]:
        return tuple(line for line in self.lines if line.fraction is None)


def _tolerance_lines(use: MedicationUse) -> list[ToleranceLine]:
    lines: list[ToleranceLine] = []
    if use.product is None:
        return lines
    mme_by_ing = {line.ingredient: line for line in medication_mme(use)}
    # FDA: opioid-tolerant patients are those *taking* the dose. An as-needed order's ceiling says what may be
    # taken, not what is: it shows no tolerance (the MME total still counts it at its maximum, docs/clinical-rules.md §1.3).
    as_needed = bool(use.dose and use.dose.prn and use.resource_type != "MedicationDispense")
    for component in use.product.components:
        ing = component.ingredient
        if "opioid" not in ing.classes:
            continue
        if as_needed:
            unit = {"mg/d": "mg/day", "mcg/h": "mcg/h"}.get(str(ing.tolerance_unit), "MME/day")
            threshold = ing.tolerance_threshold if unit != "MME/day" else OTHER_OPIOID_MME
            lines.append(ToleranceLine(use, ing.name, None, unit, threshold, None,
                                       "as needed: the amount taken is not known"))
            continue
        dose = use.dose.for_ingredient(ing.name) if use.dose else None
        if ing.tolerance_unit == "mcg/h" and use.product.form.patch:
            rate = dose.mcg_per_hour if dose else None
            lines.append(ToleranceLine(use, ing.name, rate, "mcg/h", ing.tolerance_threshold,
                                       None if rate is None else rate / ing.tolerance_threshold,
                                       None if rate is not None else (use.dose.problem if use.dose else "dose unknown")))
        elif ing.tolerance_unit == "mg/d" and use.route in ("oral", ""):
            mg = dose.mg_per_day if dose else None
            lines.append(ToleranceLine(use, ing.name, mg, "mg/day", ing.tolerance_threshold,
                                       None if mg is None else mg / ing.tolerance_threshold,
                                       None if mg is not None else (use.dose.problem if use.dose else "dose unknown")))
        else:
            mme_line = mme_by_ing.get(ing.name)
            mme = mme_line.mme_per_day if mme_line else None
            reason = None if mme is not None else (
                mme_line.reason if mme_line else "buprenorphine has no MME conversion")
            lines.append(ToleranceLine(use, ing.name, mme, "MME/day", OTHER_OPIOID_MME,
                                       None if mme is None else mme / OTHER_OPIOID_MME, reason))
    return lines


def continuous_opioid_days(exposures: Iterable[MedicationUse], today: date) -> int | None:
    """Days since the start of the unbroken run of opioid exposure that reaches today (None: no such run)."""
    spans = sorted(
        (u.start, u.end or today) for u in exposures
        if u.is_opioid and u.role != "draft" and u.start is not None and u.start <= today)
    run_start: date | None = None
    run_end: date | None = None
    for start, end in spans:
        end = max(end, start)
        if run_end is not None and start <= run_end + timedelta(days=1):
            run_end = max(run_end, end)
        else:
            run_start, run_end = start, end
    if run_start is None or run_end is None or run_end < today - timedelta(days=1):
        return None
    return (today - run_start).days


def assess_opioid_tolerance(current: Iterable[MedicationUse], exposures: Iterable[MedicationUse],
                            today: date) -> ToleranceAssessment:
    """Is the patient opioid-tolerant today? ``current`` are current medications (not drafts); ``exposures``
    every non-draft opioid record, used for how long the therapy has run."""
    lines = tuple(line for use in distinct_therapies(u for u in current if u.is_opioid)
                  for line in _tolerance_lines(use))
    fraction = sum(line.fraction or 0.0 for line in lines)
    days = continuous_opioid_days(exposures, today)
    tolerant = fraction >= 1.0 - 1e-9 and days is not None and days >= TOLERANCE_MIN_DAYS
    return ToleranceAssessment(tolerant, fraction, days, lines)


def is_opioid_naive(exposures: Iterable[MedicationUse], today: date) -> bool:
    """No opioid order, statement or dispense in the 90 days before today, ignoring today's own orders."""
    window_start = today - timedelta(days=NAIVE_LOOKBACK_DAYS)
    for use in exposures:
        if not use.is_opioid or use.role == "draft":
            continue
        if use.start is None:
            if use.role == "current":  # a current opioid without a start date is still an opioid taken now
                return False
            continue
        end = use.end or today
        if use.start < today and end >= window_start:
            return False
    return True
