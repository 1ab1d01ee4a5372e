"""high-mme: the opioids the patient will take once the drafts are signed total >= 50 MME/day (reassess
benefit and risk, taper plan); >= 90 MME/day gets the stronger wording.

Sources: CDC 2022 Rec 4-5; seed "Treatment of intractable pain" (no ceiling in cancer and intractable pain:
the serious-illness exclusion). Reads reported opioid drafts, all drafts, current medications. Buprenorphine
is never summed (so buprenorphine alone never fires). A dose that cannot be computed is listed as such: the
rule fires on the known total only, and the card says the total is incomplete.

docs/clinical-rules.md §4.3 corrects docs/clinical-rules.md: the card is for drafts that *increase* the regimen to >= 50 MME/day
("before increasing total opioid dosage to >=50 MME/day ... pause and carefully reassess", CDC 2022 Rec 4/5).
A renewal of an unchanged or reduced regimen gets none (naloxone-coprescribe covers the patient already at
>= 50). A draft whose own dose cannot be computed may be an increase, so it still counts. ``on_renewal`` (off by default)
brings back the card for renewals.
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import distinct_therapies
from ..knowledge.mme import daily_mme
from .common import for_opioid_use_disorder, mme_items, num
from .base import Finding, Param, Rule

RULE_ID = "high-mme"
FIELDS = ("draft_name", "draft_ref", "total_mme", "threshold", "opioids", "incomplete")


def evaluate(facts: Any, params: dict) -> list:
    # Buprenorphine or methadone given for opioid use disorder: pain thresholds do not apply (CDC 2022, review quote Q10f).
    opioid_drafts = [d for d in facts.reported if d.is_opioid and not for_opioid_use_disorder(facts, d)]
    if not opioid_drafts:
        return []
    total = facts.regimen_mme()
    if total.total < params["reassess_mme"]:
        return []
    draft_unknown = any(line.mme_per_day is None and line.use in facts.drafts for line in total.lines)
    before = daily_mme(distinct_therapies(facts.current_opioids)).total  # one therapy recorded twice counts once
    if not params["on_renewal"] and not draft_unknown and total.total <= before + 1e-9:
        return []  # the drafts do not raise the total: a renewal or a reduction
    strong = total.total >= params["avoid_mme"]
    first = opioid_drafts[0]
    fields = {"draft_name": first.display, "draft_ref": first.ref, "total_mme": num(total.total),
              "threshold": num(params["avoid_mme"] if strong else params["reassess_mme"]),
              "incomplete": "incomplete" if total.incomplete else "complete"}
    return [Finding(RULE_ID, first, fields, {"opioids": mme_items(total.lines)}, variant="avoid" if strong else None,
                    involved=frozenset(d.ref for d in opioid_drafts))]


RULE = Rule(
    id=RULE_ID, position=50, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications'),
    exclusion="serious_illness",
    params=(
        Param('reassess_mme', 50, "CDC 2022 Rec 4-5: reassess benefits and risks at >= 50 MME/day"),
        Param('avoid_mme', 90, "CDC 2016 Rec 5 reference point (avoid increasing dosage to >= 90 MME/day or carefully justify); the CDC 2022 guideline sets no such number (docs/clinical-rules.md §4.3)"),
        Param('on_renewal', False, "CDC 2022 Rec 4-5 asks to reassess before increasing the dosage to >= 50 MME/day (RULES-WAVE2 4.3): a renewal of an unchanged or reduced regimen gets no card unless a site sets this to true"),
    ),
)
