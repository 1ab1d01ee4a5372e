"""urine-drug-test-due: an opioid drafted for subacute or chronic pain (28 days or more) for an adult with no
urine drug screen in the last 12 months and none ordered.

Sources: CDC 2022 Recommendation 10 (review quote Q22; toxicology testing "before starting opioids and periodically (at
least annually)", Q10c); the CDC opioid CDS IG (review quote Q23-Q26): the look-back [today - 12 months - 1 day, today]
(OpioidCDSCommonConfig), the test set all-urine-drug-screening-tests and the statuses that are not a result
(OpioidCDSREC10Common), the 28-day subacute/chronic test (OpioidCDSRoutines), the ServiceRequest the card creates
(SNOMED CT 310627008, ActivityDefinition opioidcds-urine-screening-request), and the override reasons of
PlanDefinition opioidcds-10-order-sign. Excludable (CDC general inclusion criteria).

Silent when a screen is on record in the window; when a urine drug screen is already ordered, as a draft of
this call or an active ServiceRequest (accepting the card's own suggestion re-runs order-sign: the Duke "loop",
Q26); under 18 (CDC general inclusion criteria); age unknown (logged); the laboratory results neither prefetched
nor fetched (logged: absence of a screen cannot be told); for buprenorphine or methadone given for opioid use
disorder (Recommendation 10 is about pain). The course is the order's supply, or its validity period
when no supply can be read (``common.course_days``).
"""
from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta
from typing import Any

from ..knowledge.lenient import items
from ..knowledge.observations import LOINC, latest_urine_drug_screen, result_date, value_set_codes
from .base import Finding, Param, Rule
from .common import concept_label, course_days, for_opioid_use_disorder, num, under_age

RULE_ID = "urine-drug-test-due"
FIELDS = ("draft_name", "draft_ref", "days", "last_test", "test_name", "test_date", "lookback_months")
SNOMED = "http://snomed.info/sct"
URINE_DRUG_SCREENING = "310627008"  # SNOMED CT "Urine drug screening (procedure)" (CDC ActivityDefinition)
_NOT_ORDERED = {"revoked", "entered-in-error", "completed", "cancelled"}


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier (the last day of a shorter month): CQL ``- 12 months``."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


def _names_urine_drug_test(concept: Any) -> bool:
    if not isinstance(concept, dict):
        return False
    codes = value_set_codes("urine_drug_screening", LOINC)
    for c in items(concept.get("coding")):
        if not isinstance(c, dict):
            continue
        if c.get("system") == SNOMED and str(c.get("code")) == URINE_DRUG_SCREENING:
            return True
        if c.get("system") == LOINC and str(c.get("code")) in codes:
            return True
    words = [concept.get("text")] + [c.get("display") for c in items(concept.get("coding")) if isinstance(c, dict)]
    for word in words:
        text = word.lower() if isinstance(word, str) else ""
        if "urine" in text and ("drug" in text or "tox" in text):
            return True
    return False


def screen_ordered(facts: Any) -> bool:
    """A urine drug screen among this call's non-medication drafts, or an active ServiceRequest for one."""
    for r in facts.other_drafts_orders:
        if r.get("resourceType") == "ServiceRequest" and str(r.get("status") or "draft") not in _NOT_ORDERED \
                and _names_urine_drug_test(r.get("code")):
            return True
    return any(r.get("resourceType") == "ServiceRequest" and r.get("status") in ("active", "on-hold")
               and _names_urine_drug_test(r.get("code")) for r in facts.care)


def evaluate(facts: Any, params: dict) -> list:
    long = []
    for draft in facts.reported:
        if not draft.is_opioid or for_opioid_use_disorder(facts, draft):
            continue
        days = course_days(draft)
        if days is not None and days >= params["min_course_days"]:
            long.append((draft, days))
    if not long:
        return []
    if under_age(facts, RULE_ID, params["min_age"]):
        return []
    if "labs" in facts.missing:  # the screens come with the laboratory results: none read, none known
        facts.unknown(RULE_ID, "urine drug screens: laboratory results not available")
        return []
    since = months_before(facts.today, int(params["lookback_months"])) - timedelta(days=1)
    if latest_urine_drug_screen(facts.observations, facts.today, since) is not None:
        return []
    if screen_ordered(facts):
        return []
    older = latest_urine_drug_screen(facts.observations, facts.today, date.min)
    first, days = long[0]
    fields = {"draft_name": first.display, "draft_ref": first.ref, "days": num(days),
              "last_test": "older" if older is not None else "none",
              "test_name": concept_label(older.get("code")) if older is not None else "",
              "test_date": (result_date(older) or facts.today).isoformat() if older is not None else "",
              "lookback_months": num(params["lookback_months"])}
    missing = [k for k in facts.missing if k in ("observations", "serviceRequests")]
    if missing:
        fields["missing"] = missing
    return [Finding(RULE_ID, first, fields, suggestions=("order-urine-drug-screen",),
                    involved=frozenset(d.ref for d, _ in long))]


RULE = Rule(
    id=RULE_ID, position=270, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'patient', 'conditions', 'observations', 'labs', 'care'),
    exclusion="serious_illness",
    params=(
        Param('min_course_days', 28, "CDC opioid CDS IG, OpioidCDSRoutines (review quote Q24): subacute or chronic pain "
              "= expectedSupplyDuration >= 28 days, or validityPeriod >= 28 days"),
        Param('lookback_months', 12, "CDC opioid CDS IG, OpioidCDSCommonConfig (review quote Q23): \"Recommendation 10 UDS "
              "Lookback Period\": Interval[Today() - 12 months - 1 days, Today()]; CDC 2022 Rec 10: \"at least "
              "annually\" (review quote Q10c)"),
        Param('min_age', 18, "CDC opioid CDS IG, OpioidCDSRoutines / CommonConfig (CDC 2022 general inclusion "
              "criteria): \"Patient Age Less Than 18\" excludes"),
    ),
)
