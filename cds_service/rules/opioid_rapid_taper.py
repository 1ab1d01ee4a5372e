"""opioid-rapid-taper: drafts that cut a long-term (>= 28 days) opioid regimen's total MME by more than half,
or stop it (a draft with status stopped/cancelled that points at the order with priorPrescription).

Sources: seed "Third-line treatment of refractory neuropathic pain" (never discontinue opioids abruptly;
taper gradually); CDC 2022 Rec 5. Reads drafts, discontinuation drafts, current medications, opioid history.
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import (continuous_opioid_days, distinct_therapies, regimen_with_drafts, replaces,
                                  same_order)
from ..knowledge.mme import daily_mme
from .common import num
from .base import Finding, Param, Rule

RULE_ID = "opioid-rapid-taper"
FIELDS = ("draft_name", "draft_ref", "before_mme", "after_mme", "cut_percent", "days_on_opioids")


def evaluate(facts: Any, params: dict) -> list:
    current = distinct_therapies(facts.current_opioids)
    days = continuous_opioid_days(facts.exposures, facts.today)
    if not current or days is None or days < params["long_term_days"]:
        return []
    stops = [s for s in facts.stops if any(same_order(s.prior_prescription, c.ref) for c in current)]
    changers = [d for d in facts.drafts if d.is_opioid and any(replaces(d, c) for c in current)]
    triggers = stops + changers
    if not triggers:
        return []
    before = daily_mme(current).total
    remaining = [c for c in current if not any(same_order(s.prior_prescription, c.ref) for s in stops)]
    after = daily_mme(u for u in regimen_with_drafts(remaining, facts.drafts) if u.is_opioid).total
    if before <= 0 or after >= before * (1 - params["max_cut_fraction"]):
        return []
    reported = {d.ref for d in facts.reported}
    first = next((t for t in triggers if t.ref in reported or t in stops), triggers[0])
    return [Finding(RULE_ID, first, {"draft_name": first.display, "draft_ref": first.ref, "before_mme": num(before),
                                     "after_mme": num(after), "cut_percent": num(round((1 - after / before) * 100)),
                                     "days_on_opioids": days},
                    variant="stop" if after <= 0 else None, suggestions=("remove-draft",), removable=tuple(t for t in triggers if t.role == "draft"),
                    involved=frozenset(t.ref for t in triggers))]


RULE = Rule(
    id=RULE_ID, position=180, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history'),
    params=(
        Param('long_term_days', 28, "docs/clinical-rules.md §2: a long-term (>= 28 days) opioid regimen"),
        Param('max_cut_fraction', 0.5, "docs/clinical-rules.md §2: cutting the total MME by more than half"),
    ),
)
