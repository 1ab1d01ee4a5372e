"""Morphine milligram equivalents per day (CDC 2022 Clinical Practice Guideline, MMWR 2022;71(RR-3)).

Factors come from ingredients.csv. Transdermal fentanyl is mcg/h x 2.4; other fentanyl forms have no CDC
factor. Buprenorphine has no factor and is never summed. The CDC factors are for oral use; a dose given by
another route (injection, sublingual...) is reported as not convertible rather than guessed. A drug whose
route is unknown (identified by ingredient only) is taken as oral, the usual case in outpatient prescribing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from .medication import MedicationUse

_ORAL_ROUTES = ("oral", "")


@dataclass(frozen=True)
class MMELine:
    use: MedicationUse
    ingredient: str
    mme_per_day: float | None  # None: not computable (see reason)
    reason: str | None = None


@dataclass(frozen=True)
class MMETotal:
    total: float
    lines: tuple[MMELine, ...]

    @property
    def incomplete(self) -> tuple[MMELine, ...]:
        return tuple(line for line in self.lines if line.mme_per_day is None)


def medication_mme(use: MedicationUse) -> list[MMELine]:
    """One line per opioid ingredient of a medication (buprenorphine left out: never summed)."""
    lines: list[MMELine] = []
    if use.product is None:
        return lines
    for component in use.product.components:
        ing = component.ingredient
        if "opioid" not in ing.classes or ing.name == "buprenorphine":
            continue
        dose = use.dose.for_ingredient(ing.name) if use.dose else None
        if dose is None or (dose.mg_per_day is None and dose.mcg_per_hour is None):
            reason = use.dose.problem if use.dose and use.dose.problem else "dose unknown"
            lines.append(MMELine(use, ing.name, None, reason))
        elif ing.mme_factor is None:
            lines.append(MMELine(use, ing.name, None, f"no CDC 2022 conversion factor for {ing.name}"))
        elif ing.name == "fentanyl":
            if dose.mcg_per_hour is None:
                lines.append(MMELine(use, ing.name, None, "CDC 2022 converts transdermal fentanyl only"))
            else:
                lines.append(MMELine(use, ing.name, dose.mcg_per_hour * ing.mme_factor))
        elif use.route not in _ORAL_ROUTES:
            lines.append(MMELine(use, ing.name, None, f"{use.route} route: CDC 2022 factors are oral"))
        else:
            lines.append(MMELine(use, ing.name, dose.mg_per_day * ing.mme_factor))
    return lines


def daily_mme(uses: Iterable[MedicationUse]) -> MMETotal:
    """Total MME/day of the given medications, with a line per opioid so a clinician can check it."""
    lines = tuple(line for use in uses for line in medication_mme(use))
    return MMETotal(sum(line.mme_per_day or 0.0 for line in lines), lines)
