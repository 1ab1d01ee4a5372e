"""naloxone-coprescribe: an opioid draft with an overdose risk factor (total >= 50 MME/day, a current or
drafted benzodiazepine, substance use disorder or overdose history) and no naloxone or nalmefene current or
drafted, nor ordered or dispensed within ``on_hand_lookback_days`` (default 2 years: the CDC opioid CDS IG's look-back
for a naloxone prescription).

Sources: CDC 2022 Rec 8; seed "Treatment of intractable pain" (naloxone for emergency reversal). Excludable.
Buprenorphine/naloxone is not naloxone rescue (knowledge.drugs). Reads drafts, current medications, Conditions
(active or not: a history of overdose counts).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from .common import num

EXCLUDABLE = True  # silent for cancer, sickle cell, palliative or end-of-life care (docs/clinical-rules.md §1.5)
RULE_ID = "naloxone-coprescribe"
FIELDS = ("draft_name", "draft_ref", "risks", "name", "total_mme", "threshold")  # the last three per risk item


def evaluate(facts: Any, params: dict) -> list:
    from . import Finding

    opioid_drafts = [d for d in facts.reported if d.is_opioid]
    if not opioid_drafts or facts.serious_illness:
        return []
    if any(u.has_class("naloxone_rescue") for u in facts.current + facts.drafts):
        return []
    since = facts.today - timedelta(days=int(params["on_hand_lookback_days"]))
    if any(u.has_class("naloxone_rescue") and u.start is not None and u.start >= since for u in facts.history):
        return []  # a kit ordered or dispensed within the look-back is on hand, whatever its days' supply
    risks = []
    total = facts.regimen_mme()
    if total.total >= params["mme_threshold"]:
        risks.append({"risk": "mme", "total_mme": num(total.total), "threshold": num(params["mme_threshold"])})
    benzos = [u for u in facts.current + facts.drafts if u.has_class("benzodiazepine")]
    if benzos:
        risks.append({"risk": "benzodiazepine", "name": benzos[0].display})
    if facts.has_condition("substance_use_or_overdose", active_only=False):
        risks.append({"risk": "substance_use"})
    if not risks:
        return []
    first = opioid_drafts[0]
    return [Finding(RULE_ID, first, {"draft_name": first.display, "draft_ref": first.ref}, {"risks": risks},
                    suggestions=("order-naloxone",), involved=frozenset(d.ref for d in opioid_drafts))]
