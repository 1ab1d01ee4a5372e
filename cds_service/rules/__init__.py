"""Rules: pure functions from PatientFacts to Findings. One module per rule, named after its rule id.

A rule module defines ``RULE_ID``, ``FIELDS`` (the names its card templates may use) and
``evaluate(facts, params) -> list[Finding]``. It never imports Flask, requests or the card JSON; the words a
clinician reads live in ``cards/<rule-id>.yaml``. Default parameters live in ``params.json`` (with sources)
and configuration may override them per rule.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..knowledge.medication import MedicationUse
from . import (analgesic_max_dose, breakthrough_dose, cipn_agent_evidence, duplicate_therapy, er_la_opioid_naive,
               fentanyl_patch_opioid_naive, high_mme, hiv_neuropathy_opioid, methadone_initiation,
               naloxone_coprescribe, naltrexone_opioid, neuropathic_opioid_not_first_line, opioid_benzodiazepine,
               opioid_bowel_regimen, opioid_rapid_taper, opioid_risk_screening, pediatric_codeine_tramadol,
               tca_ecg_screening, tramadol_serotonergic)

# In the order of docs/clinical-rules.md §2.
RULE_MODULES: tuple[ModuleType, ...] = (
    fentanyl_patch_opioid_naive, naltrexone_opioid, tramadol_serotonergic, er_la_opioid_naive, high_mme,
    naloxone_coprescribe, opioid_benzodiazepine, opioid_bowel_regimen, neuropathic_opioid_not_first_line,
    breakthrough_dose, tca_ecg_screening, methadone_initiation, analgesic_max_dose, duplicate_therapy,
    opioid_risk_screening, hiv_neuropathy_opioid, cipn_agent_evidence, opioid_rapid_taper,
    pediatric_codeine_tramadol)
RULES: dict[str, ModuleType] = {m.RULE_ID: m for m in RULE_MODULES}
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    rule: {name: spec["value"] for name, spec in params.items()}
    for rule, params in json.loads((Path(__file__).parent / "params.json").read_text(encoding="utf-8")).items()
    if not rule.startswith("_")
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
