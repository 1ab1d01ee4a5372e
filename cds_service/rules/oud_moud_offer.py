"""oud-moud-offer: an opioid drafted for an adult with opioid use disorder recorded in the last 90 days and no
medication for opioid use disorder (MOUD) current, drafted, or ordered in the last 90 days.

Sources: CDC 2022 Recommendation 12 (review quote Q27: "offer or arrange treatment with evidence-based medications";
"Detoxification on its own ... is not recommended"; "Clinicians should not dismiss patients from their practice
because of opioid use disorder"); CDC opioid CDS IG, OpioidCDSREC12PatientView (review quote Q28, Q29): an active
Condition in opioid-misuse-disorders with recordedDate in [today - 90 days, today], no buprenorphine or
methadone MedicationRequest active or completed authored in that window, age 18 or more, "Exclusion Criteria:
false". The CDC runs it on patient-view; here it runs on an opioid draft (order-select and order-sign).

MOUD is ``Product.is_moud``: buprenorphine as given for opioid use disorder (sublingual, with naloxone, the
extended-release injections), methadone and extended-release injectable naltrexone. Transdermal and buccal
buprenorphine and Buprenex injection are analgesics, which the CDC value set counts and this rule does not
(docs/clinical-rules.md §2). No exclusion. Age unknown: silent (logged).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..knowledge.lenient import parse_date
from ..knowledge.observations import condition_date
from .base import Finding, Param, Rule
from .common import concept_label, num, under_age

RULE_ID = "oud-moud-offer"
FIELDS = ("draft_name", "draft_ref", "condition", "condition_date", "lookback_days", "pain_buprenorphine",
          "buprenorphine_name")
_REQUESTS = ("MedicationRequest", "MedicationOrder")


def _authored(use: Any):
    return parse_date(use.order.get("authoredOn")) or parse_date(use.order.get("dateWritten")) or use.start


def evaluate(facts: Any, params: dict) -> list:
    opioids = [d for d in facts.reported if d.is_opioid]
    if not opioids:
        return []
    if any(u.product is not None and u.product.is_moud for u in facts.current + facts.drafts):
        return []
    since = facts.today - timedelta(days=int(params["lookback_days"]))
    if any(u.product is not None and u.product.is_moud and u.resource_type in _REQUESTS
           and u.status in ("active", "completed") and (when := _authored(u)) is not None
           and since <= when <= facts.today for u in facts.history):
        return []
    condition = facts.condition_since("opioid_misuse_disorders", since)
    if condition is None:
        return []
    if under_age(facts, RULE_ID, params["min_age"]):
        return []
    when = condition_date(condition)
    pain_bup = next((u for u in facts.current + facts.drafts if u.product is not None
                     and "buprenorphine" in u.product.ingredient_names and not u.product.is_moud), None)
    first = opioids[0]
    fields = {"draft_name": first.display, "draft_ref": first.ref, "condition": concept_label(condition.get("code")),
              "condition_date": when.isoformat() if when else "date not recorded",
              "lookback_days": num(params["lookback_days"]),
              "pain_buprenorphine": "yes" if pain_bup is not None else "no",
              "buprenorphine_name": pain_bup.display if pain_bup is not None else ""}
    missing = [k for k in facts.missing if k.startswith("medication") or k == "conditions"]
    if missing:
        fields["missing"] = missing
    return [Finding(RULE_ID, first, fields, involved=frozenset(d.ref for d in opioids))]


RULE = Rule(
    id=RULE_ID, position=280, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history', 'patient', 'conditions'),
    params=(
        Param('lookback_days', 90, "CDC opioid CDS IG, OpioidCDSREC12PatientView (review quote Q28): \"Opioid Use "
              "Disorder Lookback Period\": Interval[Today() - 90 days, Today()], for the Condition's recordedDate "
              "and for MOUD orders authored"),
        Param('min_age', 18, "CDC opioid CDS IG, OpioidCDSREC12PatientView (review quote Q28): Common.\"Patient 18 or "
              "Older?\" in the inclusion criteria"),
    ),
)
