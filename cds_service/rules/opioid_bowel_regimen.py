"""opioid-bowel-regimen: an opioid draft for 3 days or more, or scheduled, with no laxative current or drafted
(senna, bisacodyl, PEG 3350, lactulose or a PAMORA; docusate alone does not count).

Sources: seed "Treatment of intractable pain" (prophylactic laxative therapy required); seed "Third-line
treatment of refractory neuropathic pain" (prophylactic bowel regimen). Reads drafts, current medications.
"""
from __future__ import annotations

from typing import Any

from .common import num
from .base import Finding, Param, Rule

RULE_ID = "opioid-bowel-regimen"
FIELDS = ("draft_name", "draft_ref", "why", "days")


def evaluate(facts: Any, params: dict) -> list:
    if any(u.has_class("laxative") for u in facts.current + facts.drafts):
        return []
    triggering = [d for d in facts.reported if d.is_opioid and (
        d.scheduled or (d.supply_days is not None and d.supply_days >= params["min_days"]))]
    if not triggering:
        return []
    first = triggering[0]
    why = "scheduled" if first.scheduled else "days"
    return [Finding(RULE_ID, first, {"draft_name": first.display, "draft_ref": first.ref, "why": why,
                                     "days": num(first.supply_days)},
                    involved=frozenset(d.ref for d in triggering))]


RULE = Rule(
    id=RULE_ID, position=80, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications'),
    params=(
        Param('min_days', 3, "docs/clinical-rules.md §2: an opioid draft for >= 3 days of therapy or scheduled dosing"),
    ),
)
