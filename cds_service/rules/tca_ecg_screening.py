"""tca-ecg-screening: a tricyclic antidepressant drafted for a patient over 40 with no ECG (Observation LOINC
11524-6, 34534-8, 8601-7, 8634-8, 8636-3, or an ECG Procedure) in the last 12 months.

Source: seed "Opioids for neuropathic pain" (TCAs require ECG screening in patients over 40). Reads reported
drafts, Patient.birthDate, Observations and Procedures. Without a birth date the rule cannot tell and stays
silent (logged).
"""
from __future__ import annotations

import logging
from typing import Any
from .base import Finding, Param, Rule

RULE_ID = "tca-ecg-screening"
FIELDS = ("draft_name", "draft_ref", "age", "min_age")
log = logging.getLogger(__name__)


def evaluate(facts: Any, params: dict) -> list:
    tcas = [d for d in facts.reported if d.has_class("tca")]
    if not tcas:
        return []
    if facts.age is None:
        log.info("%s: no birth date, age unknown; rule not applied", RULE_ID)
        return []
    if facts.age <= params["min_age"] or facts.documented("ecg", params["lookback_days"]):
        return []
    return [Finding(RULE_ID, d, {"draft_name": d.display, "draft_ref": d.ref, "age": facts.age,
                                 "min_age": params["min_age"]}, suggestions=("order-ecg",)) for d in tcas]


RULE = Rule(
    id=RULE_ID, position=110, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'patient', 'observations', 'procedures'),
    params=(
        Param('min_age', 40, "seed 004: ECG screening in patients over 40 years"),
        Param('lookback_days', 365, "docs/clinical-rules.md §2: no ECG in the last 12 months"),
    ),
)
