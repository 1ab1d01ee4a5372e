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
from .base import Finding, Param, Rule

RULE_ID = "naloxone-coprescribe"
FIELDS = ("draft_name", "draft_ref", "risks", "name", "total_mme", "threshold")  # the last three per risk item


def evaluate(facts: Any, params: dict) -> list:
    opioid_drafts = [d for d in facts.reported if d.is_opioid]
    if not opioid_drafts:
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


RULE = Rule(
    id=RULE_ID, position=60, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history', 'conditions'),
    exclusion="serious_illness",
    params=(
        Param('mme_threshold', 50, "CDC 2022 Rec 8: offer naloxone at >= 50 MME/day"),
        Param('on_hand_lookback_days', 730, "CDC Opioid Prescribing Support IG (cqframework/opioid-cds-r4 at b29bdcbf, OpioidCDSCommon.cql \"Active Ambulatory Naloxone Rx\"): a naloxone order authored 2 years or less before today counts as naloxone prescribed. Here any naloxone order or dispense started within the look-back counts as on hand (a rescue kit is kept until used, whatever its days' supply)."),
    ),
)
