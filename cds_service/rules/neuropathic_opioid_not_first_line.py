"""neuropathic-opioid-not-first-line: an opioid drafted for neuropathic pain before two first-line classes
(gabapentinoid, SNRI, TCA) have been tried; for a strong opioid, also before a tramadol trial.

Sources: seed "Opioids for neuropathic pain" (opioids not first line; at least two first-line agents from
different classes first; tramadol before strong opioids); seed "Third-line treatment of refractory neuropathic
pain". Excludable (cancer pain uses opioids first line). Indication: the draft's reasonCode/reasonReference,
else active Conditions. "Tried": any current or past record of the class.
"""
from __future__ import annotations

from typing import Any
from .base import Finding, Param, Rule

RULE_ID = "neuropathic-opioid-not-first-line"
FIELDS = ("draft_name", "draft_ref", "tried", "missing_tramadol", "required")
SUGGESTION_FOR = {"gabapentinoid": ("add-gabapentin", "add-pregabalin"), "snri": ("add-duloxetine",),
                  "tca": ("add-nortriptyline",)}


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    first_line = params["first_line_classes"]
    tried = [c for c in first_line if any(u.has_class(c) for u in facts.exposures)]
    tramadol_tried = any(u.product is not None and "tramadol" in u.product.ingredient_names for u in facts.exposures)
    for draft in facts.reported:
        if not draft.is_opioid or not facts.indicated_for(draft, "neuropathic_pain"):
            continue
        strong = not draft.has_class("weak_opioid")
        too_few = len(tried) < params["first_line_classes_required"]
        if not too_few and not (strong and not tramadol_tried):
            continue
        suggestions = tuple(s for c in first_line if c not in tried for s in SUGGESTION_FOR.get(c, ()))
        findings.append(Finding(RULE_ID, draft, {
            "draft_name": draft.display, "draft_ref": draft.ref, "required": params["first_line_classes_required"],
            "tried": tried,
            "missing_tramadol": "yes" if strong and not tramadol_tried else "no"}, suggestions=suggestions))
    return findings


RULE = Rule(
    id=RULE_ID, position=90, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history', 'conditions'),
    exclusion="serious_illness",
    params=(
        Param('first_line_classes_required', 2, "seed 004: failure of at least two first-line agents from different classes"),
        Param('first_line_classes', ["gabapentinoid", "snri", "tca"], "seeds 002 and 004: first line = gabapentinoids, SNRIs, TCAs"),
    ),
)
