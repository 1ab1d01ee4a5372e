"""One medication as the rules see it, whatever FHIR resource and version it came from."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any, Mapping

from .dosing import PERIOD_DAYS, DailyDose, daily_dose, is_prn
from .drugs import Product
from .lenient import bounded_days, items, parse_date
from .names import dosage_route

_DAY_WORDS = {"day": "d", "days": "d", "week": "wk", "weeks": "wk", "month": "mo", "months": "mo"}


@dataclass(eq=False)
class MedicationUse:
    """A draft, current or past medication: the drug, its daily dose and when it was taken.

    ``role`` is ``draft`` (being ordered now), ``current`` or ``history`` (docs/clinical-rules.md §1.1). ``end`` is None for an
    ongoing therapy. ``ref`` is the relative reference (``MedicationRequest/abc``) used in cards and suggestions.
    ``order`` is the record in R4 shape; the daily dose and the supply are read from it when a rule first asks,
    so the many records of a long list that no rule doses cost nothing.

    Built once per record by ``facts`` and only read after that (rules are pure functions of the facts). Not a
    frozen dataclass: its constructor costs three times as much, once for every record of every call.
    Equality is identity: two records of the same drug are two uses.
    """

    ref: str
    resource_type: str
    role: str
    display: str
    product: Product | None
    order: Mapping[str, Any] = field(repr=False)
    start: date | None
    end: date | None
    status: str
    prior_prescription: str | None = None
    reasons: tuple[dict, ...] = ()  # indication: reasonCode concepts and the codes of referenced Conditions

    @cached_property
    def dose(self) -> DailyDose | None:
        """The daily dose; None for an unrecognised drug and for past records (read for what and when, never
        for how much)."""
        if self.product is None or self.role == "history":
            return None
        return daily_dose(self.order.get("dosageInstruction"), self.product)

    @cached_property
    def supply_days(self) -> float | None:
        """How long the order lasts: expected supply duration, else timing bounds, else quantity / daily use."""
        days = stated_supply_days(self.order)
        if days is not None:
            return days
        request = self.order.get("dispenseRequest")
        quantity = request.get("quantity") if isinstance(request, dict) else None
        value = quantity.get("value") if isinstance(quantity, dict) else None
        dose = self.dose
        per_day = dose.dose_value * dose.doses_per_day if dose and dose.complete and dose.dose_value else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and per_day:
            return bounded_days(value / per_day)
        return None

    @cached_property
    def route(self) -> str:
        """The product's route; when the name does not say, the route the dosage names ("Oral", "IV"), else ""."""
        if self.product is not None and self.product.form.route:
            return self.product.form.route
        return route_of_dosage(self.order)

    @property
    def is_opioid(self) -> bool:
        return self.product is not None and self.product.is_opioid

    def has_class(self, *classes: str) -> bool:
        return self.product is not None and self.product.has_class(*classes)

    @property
    def scheduled(self) -> bool:
        return self.dose is not None and not self.dose.prn

    def therapy_key(self) -> tuple | None:
        """Same drug, strength, form and use: a request, its dispense and a statement about it are one therapy;
        a scheduled order and a PRN order of one product are two (a regimen and its breakthrough dose)."""
        if self.product is None:
            return None
        return self.product.therapy_key, is_prn(self.order.get("dosageInstruction"))


def route_of_dosage(order: Mapping[str, Any]) -> str:
    """The route the order's dosage names ("Oral", "IV", a coded route's display); "" when none does."""
    for dosage in items(order.get("dosageInstruction")):
        concept = dosage.get("route") if isinstance(dosage, dict) else None
        if isinstance(concept, dict):
            words = [concept.get("text")] + [c.get("display") for c in items(concept.get("coding")) if isinstance(c, dict)]
            for word in words:
                if isinstance(word, str) and (route := dosage_route(word)):
                    return route
    return ""


def duration_days(quantity: Any) -> float | None:
    """A Duration (UCUM code, else a unit word) in days."""
    if not isinstance(quantity, dict):
        return None
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "d").strip()
    factor = PERIOD_DAYS.get(unit) or PERIOD_DAYS.get(_DAY_WORDS.get(unit.lower(), ""))
    return bounded_days(value * factor) if factor else None


def timing_bounds(order: Mapping[str, Any]) -> tuple[date | None, date | None]:
    """The first dosage's ``timing.repeat.boundsPeriod``."""
    for dosage in items(order.get("dosageInstruction")):
        timing = dosage.get("timing") if isinstance(dosage, dict) else None
        repeat = timing.get("repeat") if isinstance(timing, dict) else None
        period = repeat.get("boundsPeriod") if isinstance(repeat, dict) else None
        if isinstance(period, dict):
            return parse_date(period.get("start")), parse_date(period.get("end"))
    return None, None


def stated_supply_days(order: Mapping[str, Any]) -> float | None:
    """The supply the order states: expected supply duration, else timing bounds (duration or period)."""
    request = order.get("dispenseRequest")
    if isinstance(request, dict) and (days := duration_days(request.get("expectedSupplyDuration"))) is not None:
        return days
    for dosage in items(order.get("dosageInstruction")):
        timing = dosage.get("timing") if isinstance(dosage, dict) else None
        repeat = timing.get("repeat") if isinstance(timing, dict) else None
        if isinstance(repeat, dict) and (days := duration_days(repeat.get("boundsDuration"))) is not None:
            return days
    start, end = timing_bounds(order)
    if start and end and end >= start:
        return float((end - start).days + 1)
    return None
