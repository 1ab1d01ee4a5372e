"""duplicate-therapy: two drugs of one class at once: two gabapentinoids, two SNRIs/SSRIs, two tricyclics, two
ER/LA opioids. A draft that renews or changes the current order (docs/clinical-rules.md §1.1) is not a duplicate, and one
therapy recorded as an order, a dispense and a statement counts once.

Source: seed "Opioids for neuropathic pain" (combining first-line agents is across classes, not within).
Reads reported drafts, other drafts, current medications.
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import distinct_therapies, replaces
from .common import medication_item
from .base import Finding, Param, Rule

RULE_ID = "duplicate-therapy"
FIELDS = ("draft_name", "draft_ref", "group", "group_a", "why", "partners")


def _in_group(use: Any, classes: list[str]) -> bool:
    if use.product is None:
        return False
    return any(use.product.is_er_la_opioid if c == "er_la_opioid" else use.has_class(c) for c in classes)


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    for draft in facts.reported:
        for group, classes in params["groups"].items():
            if not _in_group(draft, classes):
                continue
            current = [u for u in distinct_therapies(facts.current) if not replaces(draft, u)]
            others = [u for u in current + facts.other_drafts(draft)
                      if _in_group(u, classes) and u.therapy_key() != draft.therapy_key()]
            if not others:
                continue
            removable = tuple(u for u in [draft, *others] if u.role == "draft")
            findings.append(Finding(RULE_ID, draft, {"draft_name": draft.display, "draft_ref": draft.ref,
                                                     "group": group, "group_a": group, "why": group},
                                    {"partners": [medication_item(u) for u in others]},
                                    suggestions=("remove-draft",), removable=removable,
                                    involved=frozenset({group, draft.ref, *(u.ref for u in others)})))
    return findings


RULE = Rule(
    id=RULE_ID, position=140, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications'),
    params=(
        Param('groups', {"gabapentinoid": ["gabapentinoid"], "SNRI/SSRI": ["snri", "ssri"], "tricyclic": ["tca"], "ER/LA opioid": ["er_la_opioid"]}, "docs/clinical-rules.md §2: two gabapentinoids, two SNRIs/SSRIs, two TCAs, two ER/LA opioids (seed 004)"),
    ),
)
