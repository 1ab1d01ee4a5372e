"""One medication as the rules see it, whatever FHIR resource and version it came from."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .dosing import DailyDose
from .drugs import Product


@dataclass(frozen=True)
class MedicationUse:
    """A draft, current or past medication: the drug, its daily dose and when it was taken.

    ``role`` is ``draft`` (being ordered now), ``current`` or ``history`` (RULES.md 1.1). ``end`` is None for an
    ongoing therapy. ``ref`` is the relative reference (``MedicationRequest/abc``) used in cards and suggestions.
    """

    ref: str
    resource_type: str
    role: str
    display: str
    product: Product | None
    dose: DailyDose | None
    start: date | None
    end: date | None
    status: str
    prior_prescription: str | None = None
    reasons: tuple[dict, ...] = ()  # indication: reasonCode concepts and the codes of referenced Conditions
    supply_days: float | None = None  # how long the order lasts (expected supply, bounds, or quantity / daily use)

    @property
    def is_opioid(self) -> bool:
        return self.product is not None and self.product.is_opioid

    def has_class(self, *classes: str) -> bool:
        return self.product is not None and self.product.has_class(*classes)

    @property
    def scheduled(self) -> bool:
        return self.dose is not None and not self.dose.prn

    def therapy_key(self) -> tuple | None:
        """Same drug, strength and form: a request, its dispense and a statement about it are one therapy."""
        if self.product is None:
            return None
        p = self.product
        return (tuple(sorted((c.ingredient.name, c.strength_mg, c.per) for c in p.components)),
                p.form.route, p.form.extended_release, p.form.patch)
