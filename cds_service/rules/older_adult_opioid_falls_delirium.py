"""older-adult-opioid-falls-delirium: an opioid drafted for a patient 65 or older with an active Condition of
delirium, or of falls or fractures (code lists ``delirium`` and ``falls_or_fractures``, by name).

Source: AGS Beers Criteria 2023, Table 3 (drug-disease interactions), read through a formulary site's
reproduction (docs/clinical-rules.md review quote Q43): opioids with delirium, "Avoid, except in situations listed
under the rationale statement"; opioids with a history of falls or fractures, "Avoid except for pain management
in the setting if severe acute pain" (sic). Scope: adults 65 or older, not hospice or end-of-life care (Q40: the
engine's ``end_of_life`` exclusion).

The severe-acute-pain exception is read from the draft's indication (reasonCode text or display, or a referenced
Condition) and applies to falls and fractures only, as the criteria write it. Resolved fall or fracture
Conditions count only when ``count_resolved_falls`` is set (Beers says "history of"; off by default, the
project counts active Conditions).
"""
from __future__ import annotations

import re
from typing import Any

from ..knowledge.lenient import items
from ..knowledge.patient import condition_is_active, status_codes
from .base import Finding, Param, Rule
from .common import concept_label, condition_dated, under_age

RULE_ID = "older-adult-opioid-falls-delirium"
FIELDS = ("draft_name", "draft_ref", "age", "conditions", "exception", "name", "recorded")
_REFUTED = {"refuted", "entered-in-error"}


def _found(facts: Any, list_name: str, include_resolved: bool) -> list[dict]:
    code_list = facts.lists[list_name]
    out = []
    for c in facts.conditions:
        if not code_list.matches_concept(c.get("code")):
            continue
        if not condition_is_active(c, facts.today) and not (
                include_resolved and not status_codes(c.get("verificationStatus")) & _REFUTED):
            continue
        out.append({"kind": list_name, "name": concept_label(c.get("code")), "recorded": condition_dated(c)})
    return out


def _reason_text(concept: dict) -> str:
    texts = [concept.get("text")] + [c.get("display") for c in items(concept.get("coding")) if isinstance(c, dict)]
    return " ".join(t for t in texts if isinstance(t, str)).lower()


def severe_acute_pain(draft: Any, words: list[str]) -> bool:
    """The draft's indication names severe acute pain: every word of ``words`` in one reason's text."""
    return any(all(re.search(rf"\b{re.escape(w)}\b", _reason_text(r)) for w in words)
               for r in draft.reasons if isinstance(r, dict))


def evaluate(facts: Any, params: dict) -> list:
    drafts = [d for d in facts.reported if d.is_opioid]
    if not drafts or under_age(facts, RULE_ID, params["min_age"]):
        return []
    age = facts.age
    delirium = _found(facts, "delirium", False)
    falls = _found(facts, "falls_or_fractures", params["count_resolved_falls"])
    if not delirium and not falls:
        return []
    findings = []
    for draft in drafts:
        excepted = bool(falls) and severe_acute_pain(draft, params["severe_acute_pain_words"])
        conditions = delirium + ([] if excepted else falls)
        if not conditions:
            continue
        findings.append(Finding(RULE_ID, draft, {"draft_name": draft.display, "draft_ref": draft.ref, "age": age,
                                                 "exception": "falls_excepted" if excepted else "none"},
                                {"conditions": conditions}))
    return findings


RULE = Rule(
    id=RULE_ID, position=320, evaluate=evaluate, fields=FIELDS,
    reads=("drafts", "patient", "conditions"),
    params=(
        Param("min_age", 65, "AGS Beers 2023 scope (Q40): \"adults 65 years old and older\""),
        Param("severe_acute_pain_words", ["severe", "acute", "pain"], "AGS Beers 2023 Table 3 (Q43, formweb "
              "reproduction): falls or fractures, \"Avoid except for pain management in the setting if severe acute "
              "pain\"; read from the words of the draft's indication (no code names severity)"),
        Param("count_resolved_falls", False, "project choice: Beers says \"History of falls or fractures\"; "
              "by default only active Conditions count (docs/clinical-rules.md §2); a site may count resolved ones"),
    ),
    exclusion="end_of_life",
)
