"""opioid-benzodiazepine: an opioid draft with a current or drafted benzodiazepine, or a benzodiazepine draft
while an opioid is current.

Sources: FDA 2016 boxed warning (opioids with benzodiazepines); CDC 2022 Rec 11. Excludable (end-of-life
sedation, seed "Treatment of intractable pain"). Reads reported drafts, other drafts, current medications.
"""
from __future__ import annotations

from typing import Any

from .common import medication_item
from .base import Finding, Rule

RULE_ID = "opioid-benzodiazepine"
FIELDS = ("draft_name", "draft_ref", "partners", "direction", "oud")


def _for_oud(use: Any) -> bool:
    return use.product is not None and use.product.treats_opioid_use_disorder


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    for draft in facts.reported:
        if draft.is_opioid:
            partners, direction = facts.alongside_with(draft, "benzodiazepine"), "opioid"
        elif draft.has_class("benzodiazepine"):
            partners, direction = facts.alongside_with(draft, "opioid"), "benzodiazepine"
        else:
            continue
        if partners:
            # Buprenorphine for opioid use disorder is not offered for removal (FDA 2017: do not withhold it).
            removable = tuple(u for u in [draft, *partners] if u.role == "draft" and not _for_oud(u))
            oud = any(_for_oud(u) for u in [draft, *partners])
            findings.append(Finding(RULE_ID, draft, {"draft_name": draft.display, "draft_ref": draft.ref,
                                                     "direction": direction, "oud": "moud" if oud else "none"},
                                    {"partners": [medication_item(p) for p in partners]},
                                    suggestions=("remove-draft",), removable=removable,
                                    involved=frozenset({draft.ref, *(p.ref for p in partners)})))
    return findings


RULE = Rule(
    id=RULE_ID, position=70, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications'),
    exclusion="serious_illness",
)
