"""fentanyl-patch-opioid-naive: a transdermal fentanyl draft for a patient who is not opioid-tolerant.

Sources: seed "Treatment of intractable pain" (fentanyl transdermal only for opioid-tolerant patients,
pitfall 6); FDA transdermal fentanyl label. Reads: the reported drafts, current medications and every past
opioid record (for how long opioid therapy has run). Tolerance is docs/clinical-rules.md §1.4, computed from the daily doses
of the patient's current opioids (``knowledge.exposure``); a dose that cannot be computed does not count
towards tolerance, and the card says so.
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import TOLERANCE_MIN_DAYS, assess_opioid_tolerance
from ..knowledge.mme import medication_mme
from .common import medication_item, num
from .base import Finding, Rule

RULE_ID = "fentanyl-patch-opioid-naive"
FIELDS = ("draft_name", "draft_ref", "patch_rate", "patch_mme", "reason", "tolerance_percent",
          "days_on_opioids", "current_opioids", "min_days")


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    patches = [d for d in facts.reported if d.product is not None and d.product.is_fentanyl_patch]
    if not patches:
        return findings
    tolerance = assess_opioid_tolerance(facts.current, facts.exposures, facts.today)
    if tolerance.tolerant:
        return findings
    if not tolerance.lines:
        reason = "no_opioid"
    elif tolerance.fraction >= 1.0 and tolerance.days_on_opioids is None:
        reason = "since_unknown"  # no record says since when: never a confident "0 days"
    elif tolerance.fraction >= 1.0:
        reason = "too_short"
    elif tolerance.unknown:
        reason = "dose_unknown"
    else:
        reason = "below_threshold"
    current = []
    for line in tolerance.lines:
        item = medication_item(line.use)
        unit = line.unit
        item.update(
            amount=f"{num(line.amount)} {unit}" if line.amount is not None else f"dose not computable ({line.reason})",
            percent=num(round(line.fraction * 100)) if line.fraction is not None else "unknown",
            threshold=f"{num(line.threshold)} {unit}")
        current.append(item)
    for draft in patches:
        dose = draft.dose.ingredients[0] if draft.dose else None
        mme = next((m.mme_per_day for m in medication_mme(draft)), None)
        missing = [k for k in facts.missing if k.startswith("medication")]
        fields = {
            "draft_name": draft.display, "draft_ref": draft.ref,
            "patch_rate": num(dose.mcg_per_hour) if dose and dose.mcg_per_hour else "unknown",
            "patch_mme": num(mme),
            "reason": reason,
            "tolerance_percent": num(round(tolerance.fraction * 100)),
            "days_on_opioids": tolerance.days_on_opioids if tolerance.days_on_opioids is not None else 0,
            "min_days": TOLERANCE_MIN_DAYS,
        }
        if missing:
            fields["missing"] = missing
        findings.append(Finding(RULE_ID, draft, fields, {"current_opioids": current},
                                # The oral start dose is for a patient on no opioid; otherwise the current opioid is adjusted.
                                suggestions=("replace-with-oxycodone", "remove-draft") if reason == "no_opioid"
                                else ("remove-draft",), removable=(draft,)))
    return findings


RULE = Rule(
    id=RULE_ID, position=10, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history'),
)
