"""methadone-initiation: methadone drafted for pain for a patient not currently on methadone.

Sources: seed "Treatment of intractable pain" (methadone requires expertise: variable conversion ratios);
CDC 2022 (methadone MME caution, QTc). Methadone whose draft names opioid use disorder as its reason is
treatment of OUD, not pain, and is left alone. Reads reported drafts and current medications.
"""
from __future__ import annotations

from typing import Any
from .base import Finding, Rule

RULE_ID = "methadone-initiation"
FIELDS = ("draft_name", "draft_ref")


def _methadone(use: Any) -> bool:
    return use.product is not None and "methadone" in use.product.ingredient_names


def evaluate(facts: Any, params: dict) -> list:
    if any(_methadone(u) for u in facts.current):
        return []
    return [Finding(RULE_ID, d, {"draft_name": d.display, "draft_ref": d.ref}, suggestions=("order-ecg",))
            for d in facts.reported
            if _methadone(d) and not any(facts.lists["opioid_use_disorder"].matches_concept(r) for r in d.reasons)]


RULE = Rule(
    id=RULE_ID, position=120, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications'),
)
