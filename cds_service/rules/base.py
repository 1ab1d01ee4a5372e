"""What a rule is: its declaration (``Rule``), its parameters (``Param``) and what it finds (``Finding``).

This module imports nothing from the rules package, so a rule module imports it at the top and the registry
(``rules/__init__.py``) imports the rule modules without a cycle. Everything the service derives about a rule
— the registry, the settings check, the catalogue tests, ``docs/cards.md`` and the review page — is read from
the ``RULE`` a module declares, so that a new rule is one module, one card file and its fixtures.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from ..knowledge.medication import MedicationUse

# The facts a rule may read, and the prefetch keys they come from (a rule that reads a fact whose key was
# neither prefetched nor fetched still runs, with less; the log says which rule and which fact).
FACT_SOURCES: dict[str, tuple[str, ...]] = {
    "drafts": (),
    "current_medications": ("medicationRequests", "medicationStatements", "medicationDispenses"),
    "medication_history": ("medicationRequests", "medicationStatements", "medicationDispenses"),
    "patient": ("patient",),
    "conditions": ("conditions",),
    "observations": ("observations", "screenings"),
    "labs": ("labs",),
    "procedures": ("procedures",),
    "care": ("serviceRequests", "encounters", "procedures"),
}
# The exclusions the engine applies before a rule runs (docs/clinical-rules.md §1.5 and §4.4).
EXCLUSIONS = {
    "serious_illness": "cancer, sickle cell disease, palliative, hospice or end-of-life care",
    "end_of_life": "hospice, palliative or end-of-life care (not cancer alone)",
}


@dataclass
class Finding:
    """One risk found for one draft: the numbers behind it and what the card may offer."""

    rule_id: str
    draft: MedicationUse
    fields: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    variant: str | None = None  # an alternative text/indicator in the card file (e.g. "maoi")
    suggestions: tuple[str, ...] = ()  # keys of suggestion templates in the card file
    removable: tuple[MedicationUse, ...] = ()  # drafts a "remove" suggestion may delete
    involved: frozenset[str] = frozenset()  # refs of every resource in the finding, to drop duplicates

    def key(self) -> tuple[str, frozenset[str]]:
        return self.rule_id, self.involved or frozenset({self.draft.ref})


@dataclass(frozen=True)
class Param:
    """A rule parameter: its default, the source of that default, and, for a value no source read so far
    confirms, why it is off (``unverified``: shown on the card review page; a site may switch it on)."""

    name: str
    default: Any
    source: str
    unverified: str = ""


@dataclass
class Rule:
    """A rule as the engine, the settings check and the review page know it.

    ``evaluate(facts, params)`` is pure: it reads ``facts`` (PatientFacts) and returns Findings, never raises
    on input the request schema accepts, and says what it could not know through ``facts.unknown``. The
    engine applies ``exclusion`` (a key of EXCLUSIONS) and the site's switches before calling it."""

    id: str
    position: int  # place in the catalogue (docs/clinical-rules.md §2 order; the second wave after the first)
    evaluate: Callable[[Any, dict], list[Finding]]
    fields: tuple[str, ...]  # the names its card templates may use
    reads: tuple[str, ...]  # keys of FACT_SOURCES
    params: tuple[Param, ...] = ()
    exclusion: str | None = None  # key of EXCLUSIONS: the engine skips the rule for such a patient
    enabled_by_default: bool = True
    unverified: str = ""  # why the rule is off by default: the source it waits for

    def __post_init__(self) -> None:
        unknown = set(self.reads) - set(FACT_SOURCES)
        if unknown:
            raise ValueError(f"rule {self.id}: reads unknown facts {sorted(unknown)}")
        if self.exclusion is not None and self.exclusion not in EXCLUSIONS:
            raise ValueError(f"rule {self.id}: unknown exclusion {self.exclusion!r}")
        if self.unverified and self.enabled_by_default:
            raise ValueError(f"rule {self.id}: an unverified rule is off by default")

    @property
    def excludable(self) -> bool:
        return self.exclusion is not None

    @property
    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    @cached_property
    def prefetch_keys(self) -> frozenset[str]:
        """The prefetch keys whose facts the rule reads (asked on every call: computed once)."""
        return frozenset(key for fact in self.reads for key in FACT_SOURCES[fact])
