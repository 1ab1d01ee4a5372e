"""hiv-neuropathy-opioid: an opioid drafted for a patient with HIV and neuropathic pain, in whom opioids may
cause pronociception.

Sources: seeds "Opioids for neuropathic pain" and "Third-line treatment of refractory neuropathic pain"
(pronociception through chemokine receptor upregulation). Reads reported drafts and Conditions.
"""
from __future__ import annotations

from typing import Any
from .base import Finding, Rule

RULE_ID = "hiv-neuropathy-opioid"
FIELDS = ("draft_name", "draft_ref")


def evaluate(facts: Any, params: dict) -> list:
    if not facts.has_condition("hiv"):
        return []
    return [Finding(RULE_ID, d, {"draft_name": d.display, "draft_ref": d.ref}) for d in facts.reported
            if d.is_opioid and (facts.indicated_for(d, "neuropathic_pain") or facts.has_condition("neuropathic_pain"))]


RULE = Rule(
    id=RULE_ID, position=160, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'conditions'),
)
