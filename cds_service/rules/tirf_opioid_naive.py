"""tirf-opioid-naive: a transmucosal immediate-release fentanyl (TIRF) draft for a patient who is not
opioid-tolerant, or who is tolerant but has no current around-the-clock opioid.

Sources: FENTORA label (Rev 10/2019, Indications and Usage: for breakthrough cancer pain in patients 18 and older
"who are already receiving and who are tolerant to around-the-clock opioid therapy"; "Patients must remain on
around-the-clock opioids while taking FENTORA"; boxed warning: contraindicated in opioid non-tolerant patients and
in acute or postoperative pain, including headache/migraines); TIRF REMS (enrolment required to prescribe).
docs/clinical-rules.md §2.20 (which products are TIRF: ``Product.is_tirf``) and §1.4 (tolerance, computed as
fentanyl-patch-opioid-naive computes it, ``knowledge.exposure``; the 2019 FENTORA list is the same list, with
hydrocodone 60 mg/day).

No exclusion: the label already restricts TIRF to cancer patients, so a cancer diagnosis must not silence the
card (the risk is the missing tolerance, not the indication). "Around-the-clock" is read as a current scheduled
(not as-needed) opioid order, statement or dispense that no stop order of this call ends; a current TIRF is
as-needed and never counts.
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import TOLERANCE_MIN_DAYS, assess_opioid_tolerance, same_order
from .common import medication_item, num
from .base import Finding, Rule

RULE_ID = "tirf-opioid-naive"
FIELDS = ("draft_name", "draft_ref", "reason", "tolerance_percent", "days_on_opioids", "current_opioids",
          "min_days", "age")


def _around_the_clock(facts: Any) -> list:
    """Current scheduled opioids (not TIRF, not as needed) that no stop draft of this call ends."""
    return [u for u in facts.current_opioids
            if u.product is not None and not u.product.is_tirf and u.scheduled
            and not any(same_order(s.prior_prescription, u.ref) for s in facts.stops)]


def _reason(tolerance: Any, scheduled: list) -> str | None:
    """Why the patient may not take TIRF (None: tolerant and on an around-the-clock opioid)."""
    if tolerance.tolerant:
        return None if scheduled else "no_around_the_clock"
    if not tolerance.lines:
        return "no_opioid"
    if tolerance.fraction >= 1.0 - 1e-9 and tolerance.days_on_opioids is None:
        return "since_unknown"  # no record says since when: never a confident "0 days"
    if tolerance.fraction >= 1.0 - 1e-9:
        return "too_short"
    if tolerance.unknown:
        return "dose_unknown"
    return "below_threshold"


def evaluate(facts: Any, params: dict) -> list:
    tirf = [d for d in facts.reported if d.product is not None and d.product.is_tirf]
    if not tirf:
        return []
    tolerance = assess_opioid_tolerance(facts.current, facts.exposures, facts.today)
    reason = _reason(tolerance, _around_the_clock(facts))
    if reason is None:
        return []
    current = []
    for line in tolerance.lines:
        item = medication_item(line.use)
        item.update(
            amount=f"{num(line.amount)} {line.unit}" if line.amount is not None
            else f"dose not computable ({line.reason})",
            percent=num(round(line.fraction * 100)) if line.fraction is not None else "unknown",
            threshold=f"{num(line.threshold)} {line.unit}",
            schedule="as needed" if line.use.dose is not None and line.use.dose.prn else "scheduled")
        current.append(item)
    missing = [k for k in facts.missing if k.startswith("medication")]
    findings = []
    for draft in tirf:
        fields = {
            "draft_name": draft.display, "draft_ref": draft.ref, "reason": reason,
            "tolerance_percent": num(round(tolerance.fraction * 100)),
            "days_on_opioids": tolerance.days_on_opioids if tolerance.days_on_opioids is not None else 0,
            "min_days": TOLERANCE_MIN_DAYS,
            "age": facts.age if facts.age is not None else "unknown",
        }
        if missing:
            fields["missing"] = missing
        findings.append(Finding(RULE_ID, draft, fields, {"current_opioids": current},
                                suggestions=("remove-draft",), removable=(draft,)))
    return findings


RULE = Rule(
    id=RULE_ID, position=200, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history', 'patient'),
)
