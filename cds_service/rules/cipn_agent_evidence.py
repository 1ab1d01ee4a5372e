"""cipn-agent-evidence: nortriptyline, amitriptyline or gabapentin drafted for chemotherapy-induced peripheral
neuropathy (G62.0 with active cancer or chemotherapy): they lack evidence there; duloxetine has it.

Source: seed "Third-line treatment of refractory neuropathic pain" (no evidence of efficacy with nortriptyline,
amitriptyline or gabapentin in CIPN). Reads reported drafts and Conditions.
"""
from __future__ import annotations

from typing import Any
from .base import Finding, Param, Rule

RULE_ID = "cipn-agent-evidence"
FIELDS = ("draft_name", "draft_ref", "ingredient")


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    agents = set(params["agents_without_evidence"])
    for draft in facts.reported:
        agent = next((i for i in (draft.product.ingredient_names if draft.product else ()) if i in agents), None)
        if agent is None:
            continue
        cipn = facts.indicated_for(draft, "chemotherapy_induced_neuropathy") or facts.has_condition(
            "chemotherapy_induced_neuropathy")
        if cipn and (facts.has_condition("cancer") or facts.has_condition("chemotherapy")):
            findings.append(Finding(RULE_ID, draft, {"draft_name": draft.display, "draft_ref": draft.ref,
                                                     "ingredient": agent}))
    return findings


RULE = Rule(
    id=RULE_ID, position=170, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'conditions'),
    params=(
        Param('agents_without_evidence', ["nortriptyline", "amitriptyline", "gabapentin"], "seed 002: no evidence of efficacy with nortriptyline, amitriptyline or gabapentin in CIPN"),
    ),
)
