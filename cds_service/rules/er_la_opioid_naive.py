"""er-la-opioid-naive: an extended-release/long-acting opioid (12/24 HR, Extended Release, methadone; not a
fentanyl patch, which has its own rule) drafted for an opioid-naive patient (no opioid in 90 days).

Sources: seed "Treatment of intractable pain" (start strong opioids at low oral doses); CDC 2022 Rec 3
(immediate-release opioids when starting). Excludable (serious illness). Reads reported drafts, every
non-draft opioid record.
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import NAIVE_LOOKBACK_DAYS, is_opioid_naive
from .common import for_opioid_use_disorder
from .base import Finding, Rule

RULE_ID = "er-la-opioid-naive"
FIELDS = ("draft_name", "draft_ref", "lookback_days")


def evaluate(facts: Any, params: dict) -> list:
    if not is_opioid_naive(facts.exposures, facts.today):
        return []
    # "No opioid in 90 days" is only as good as the history read: the card says what could not be had.
    missing = {"missing": m} if (m := [k for k in facts.missing if k.startswith("medication")]) else {}
    return [Finding(RULE_ID, d, {"draft_name": d.display, "draft_ref": d.ref, "lookback_days": NAIVE_LOOKBACK_DAYS,
                                 **missing},
                    suggestions=("replace-with-immediate-release", "remove-draft"), removable=(d,))
            for d in facts.reported
            if d.product is not None and d.product.is_er_la_opioid and not d.product.is_fentanyl_patch
            and not for_opioid_use_disorder(facts, d)]  # methadone for opioid use disorder is not a pain start


RULE = Rule(
    id=RULE_ID, position=40, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history'),
    exclusion="serious_illness",
)
