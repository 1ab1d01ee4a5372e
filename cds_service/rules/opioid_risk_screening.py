"""opioid-risk-screening: an opioid drafted for 28 days or more for an opioid-naive patient, with no opioid risk
screening (SOAPP-R, Opioid Risk Tool) or treatment agreement documented in the last 12 months.

Source: seed "Opioids for neuropathic pain" (screen with SOAPP-R or ORT; establish a treatment agreement).
Excludable. Screenings are recognised by name in Observations and Procedures (no verified LOINC codes).
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import is_opioid_naive
from .common import for_opioid_use_disorder, num
from .base import Finding, Param, Rule

RULE_ID = "opioid-risk-screening"
FIELDS = ("draft_name", "draft_ref", "days")


def evaluate(facts: Any, params: dict) -> list:
    long = [d for d in facts.reported if d.is_opioid and d.supply_days is not None
            and d.supply_days >= params["min_days"] and not for_opioid_use_disorder(facts, d)]
    if not long or not is_opioid_naive(facts.exposures, facts.today):
        return []
    if facts.documented("opioid_risk_screening", params["lookback_days"]):
        return []
    first = long[0]
    missing = [k for k in facts.missing if k.startswith("medication") or k == "screenings"]
    return [Finding(RULE_ID, first, {"draft_name": first.display, "draft_ref": first.ref,
                                     "days": num(first.supply_days), **({"missing": missing} if missing else {})},
                    involved=frozenset(d.ref for d in long))]


RULE = Rule(
    id=RULE_ID, position=150, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history', 'observations', 'procedures'),
    exclusion="serious_illness",
    params=(
        Param('min_days', 28, "docs/clinical-rules.md §2: an opioid draft for >= 28 days"),
        Param('lookback_days', 365, "docs/clinical-rules.md §2: screening in the last 12 months"),
    ),
)
