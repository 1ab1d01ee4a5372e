"""opioid-pregnancy: an opioid drafted for 28 days or more, or any extended-release/long-acting opioid, for a
patient with a current pregnancy (docs/clinical-rules.md §4.1.4, ``facts.pregnancy``).

Sources: the opioid analgesic labels' boxed warning on neonatal opioid withdrawal syndrome (NOWS) (§4.9 Q34);
CDC 2022 on opioids in pregnancy (§4.9 Q10d: weigh benefits and risks before starting; "access appropriate
expertise if considering tapering"; medications for opioid use disorder "should be offered as early as possible
in pregnancy"). The card asks for no removal and no taper.

Silent for buprenorphine as given for opioid use disorder (``Product.is_moud``) and for methadone ordered for
opioid use disorder (its reason, or, without one, an active opioid use disorder Condition); for immediate-release
courses under 28 days; and when the course length cannot be told (logged). No exclusion: NOWS is a risk to the
newborn whatever the mother's illness, and a card that removes nothing does not stand in the way of cancer or
palliative pain treatment (docs: decision).

The helpers below are shared with ``nsaid-pregnancy-20-weeks`` (how pregnancy and gestational age read on a
card) and ``urine-drug-test-due`` (how long an order lasts; MOUD given for opioid use disorder).
"""
from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

from ..knowledge.lenient import items, parse_date
from ..knowledge.observations import (PREGNANCY_LOOKBACK_DAYS, PREGNANCY_STATUS, PREGNANT, group_codes,
                                      is_result, result_date)
from ..knowledge.patient import condition_is_active
from .base import Finding, Param, Rule
from .common import num

RULE_ID = "opioid-pregnancy"
FIELDS = ("draft_name", "draft_ref", "course", "course_summary", "days", "pregnancy_evidence", "gestational_age",
          "situation", "current_opioid")
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"


# -- shared helpers ------------------------------------------------------------------------------------------------
def course_days(use: Any) -> float | None:
    """How long the order lasts, in days: its stated or computed supply (``MedicationUse.supply_days``:
    expected supply duration, timing bounds, quantity over daily use); when none can be had, the length of
    ``dispenseRequest.validityPeriod`` (CDC opioid CDS IG, OpioidCDSRoutines: "days between
    prescription.dispenseRequest.validityPeriod.start and ... .end"). A known supply wins over the validity
    period: a 7-day supply that may be filled within 6 months is a 7-day course."""
    days = use.supply_days
    if days is not None:
        return days
    request = use.order.get("dispenseRequest")
    period = request.get("validityPeriod") if isinstance(request, dict) else None
    if isinstance(period, dict):
        start, end = parse_date(period.get("start")), parse_date(period.get("end"))
        if start is not None and end is not None and end >= start:
            return float((end - start).days)
    return None


def for_opioid_use_disorder(facts: Any, use: Any) -> bool:
    """A medication for opioid use disorder given for it: buprenorphine as given for OUD and extended-release
    naltrexone (``Product.is_moud``); methadone only when its reason (or, without a reason, an active
    Condition) is opioid use disorder: methadone for pain is an analgesic."""
    product = use.product
    if product is None or not product.is_moud:
        return False
    if "methadone" not in product.ingredient_names:
        return True
    return facts.indicated_for(use, "opioid_use_disorder") or facts.indicated_for(use, "opioid_misuse_disorders")


def _codings(concept: Any) -> list[dict]:
    return [c for c in items(concept.get("coding")) if isinstance(c, dict)] if isinstance(concept, dict) else []


def concept_label(concept: Any) -> str:
    """A concept as a card names it: its words and first code ("Supervision of normal pregnancy (Z34.83)")."""
    if not isinstance(concept, dict):
        return "a record"
    codings = _codings(concept)
    words = concept.get("text") if isinstance(concept.get("text"), str) and concept["text"] else next(
        (str(c["display"]) for c in codings if isinstance(c.get("display"), str) and c["display"]), "")
    code = next((str(c["code"]) for c in codings if c.get("code")), "")
    if words and code:
        return f"{words} ({code})"
    return words or code or "a record"


def condition_recorded(condition: dict) -> date | None:
    return (parse_date(condition.get("recordedDate")) or parse_date(condition.get("onsetDateTime"))
            or parse_date(condition.get("assertedDate")) or parse_date(condition.get("dateRecorded")))


def pregnancy_evidence(facts: Any) -> str:
    """The newest record that shows the pregnancy, as the card cites it: the Condition and its date, or the
    pregnancy-status Observation and its date, else a gestational-age Observation (the records
    ``facts.pregnancy`` reads, in the same 42-week look-back)."""
    since = facts.today - timedelta(days=PREGNANCY_LOOKBACK_DAYS)
    found: list[tuple[date, str]] = []  # Conditions and pregnancy-status results: what says "pregnant"
    dated: list[tuple[date, str]] = []  # gestational-age results: cited only when nothing else is on record
    for c in facts.conditions:
        if not isinstance(c, dict) or not condition_is_active(c, facts.today):
            continue
        if not facts.lists["pregnancy"].matches_concept(c.get("code")):
            continue
        when = condition_recorded(c)
        if when is not None and not since <= when <= facts.today:
            continue
        found.append((when or date.min, f"Condition {concept_label(c.get('code'))}, " + (
            f"recorded {when.isoformat()}" if when else "no date recorded")))
    gestational = group_codes("gestational_age")
    for obs in facts.observations:
        if not is_result(obs):
            continue
        when = result_date(obs)
        if when is None or not since <= when <= facts.today:
            continue
        codes = {(c.get("system"), str(c.get("code"))) for c in _codings(obs.get("code"))}
        if (LOINC, PREGNANCY_STATUS) in codes and any(
                c.get("system") == SNOMED and str(c.get("code")) == PREGNANT
                for c in _codings(obs.get("valueCodeableConcept"))):
            found.append((when, f"Observation {concept_label(obs.get('code'))}: "
                                f"{concept_label(obs.get('valueCodeableConcept'))}, {when.isoformat()}"))
        elif any(system == LOINC and code in gestational for system, code in codes):
            dated.append((when, f"Observation {concept_label(obs.get('code'))}, {when.isoformat()}"))
    if not found and not dated:
        return "a pregnancy record"
    return max(found or dated, key=lambda f: f[0])[1]


def weeks_and_days(weeks: float) -> str:
    """A gestational age as obstetrics writes it: completed weeks and days ("24 weeks 3 days")."""
    total = int(math.floor(weeks * 7 + 1e-6))
    w, d = divmod(total, 7)
    return f"{w} weeks {d} days" if d else f"{w} weeks"


def gestational_age(pregnancy: Any, max_weeks: float) -> tuple[float | None, str]:
    """(weeks today, or None when unknown or implausible; the words for the card)."""
    if pregnancy.weeks is None:
        return None, "unknown"
    if pregnancy.weeks > max_weeks:
        return None, "unknown"
    return pregnancy.weeks, f"about {weeks_and_days(pregnancy.weeks)} today ({pregnancy.how})"


# -- the rule --------------------------------------------------------------------------------------------------
def evaluate(facts: Any, params: dict) -> list:
    opioids = [d for d in facts.reported if d.is_opioid and not for_opioid_use_disorder(facts, d)]
    if not opioids:
        return []
    pregnancy = facts.pregnancy
    if not pregnancy.pregnant:
        return []
    findings = []
    evidence = None
    for draft in opioids:
        days = course_days(draft)
        long_course = days is not None and days >= params["min_course_days"]
        er_la = draft.product.is_er_la_opioid
        if not (long_course or er_la):
            if days is None:
                facts.unknown(RULE_ID, "course length: no supply or validity period on the opioid draft")
            continue
        if evidence is None:
            evidence = pregnancy_evidence(facts)
            weeks, ga_text = gestational_age(pregnancy, params["max_plausible_weeks"])
            if pregnancy.weeks is not None and weeks is None:
                ga_text = ("unknown (the last gestational age on record would place the pregnancy past "
                           f"{num(params['max_plausible_weeks'])} weeks today: check that it is current)")
            already = facts.current_opioids  # a renewal too: the patient already receives opioids
        course = ("days_er_la" if long_course and er_la else "days" if long_course else "er_la")
        fields = {"draft_name": draft.display, "draft_ref": draft.ref, "course": course, "course_summary": course,
                  "days": num(days) if days is not None else "unknown",
                  "pregnancy_evidence": evidence, "gestational_age": ga_text,
                  "situation": "already" if already else "new",
                  "current_opioid": already[0].display if already else ""}
        findings.append(Finding(RULE_ID, draft, fields))
    return findings


RULE = Rule(
    id=RULE_ID, position=290, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'conditions', 'observations'),
    params=(
        Param('min_course_days', 28, "docs/clinical-rules.md §4.2 opioid-pregnancy: an opioid for 28 days or more "
              "(the CDC opioid CDS IG's subacute/chronic threshold, OpioidCDSRoutines: expectedSupplyDuration "
              ">= 28 days); the NOWS boxed warning is about \"prolonged use\" (§4.9 Q34)"),
        Param('max_plausible_weeks', 44, "data plausibility, not a clinical threshold: a gestational age recorded "
              "in the 42-week look-back (AHRQ CDS Connect PMS, §4.9 Q52) that would be past 44 weeks today (42 "
              "weeks, ICD-10-CM Z3A.49 \"greater than 42 weeks\", plus 2 weeks for dating) says the pregnancy is "
              "probably over: the card says the gestational age is unknown instead of printing it"),
    ),
)
