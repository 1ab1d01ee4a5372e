"""opioid-pregnancy: an opioid drafted for 28 days or more, or any extended-release/long-acting opioid, for a
patient with a current pregnancy (docs/clinical-rules.md §1.6, ``facts.pregnancy``).

Sources: the opioid analgesic labels' boxed warning on neonatal opioid withdrawal syndrome (NOWS) (review quote Q34);
CDC 2022 on opioids in pregnancy (review quote Q10d: weigh benefits and risks before starting; "access appropriate
expertise if considering tapering"; medications for opioid use disorder "should be offered as early as possible
in pregnancy"). The card asks for no removal and no taper.

Silent for buprenorphine as given for opioid use disorder (``Product.is_moud``) and for methadone ordered for
opioid use disorder (its reason, or, without one, an active opioid use disorder Condition); for immediate-release
courses under 28 days; and when the course length cannot be told (logged). No exclusion: NOWS is a risk to the
newborn whatever the mother's illness, and a card that removes nothing does not stand in the way of cancer or
palliative pain treatment (docs: decision).

Shared with ``nsaid-pregnancy-20-weeks``, ``urine-drug-test-due`` and ``oud-moud-offer``: ``rules/common.py``
(how long an order lasts, MOUD given for opioid use disorder, how pregnancy and gestational age read on a card).
"""
from __future__ import annotations

from typing import Any

from .base import Finding, Param, Rule
from .common import course_days, for_opioid_use_disorder, gestational_age, num, pregnancy_evidence

RULE_ID = "opioid-pregnancy"
FIELDS = ("draft_name", "draft_ref", "course", "course_summary", "days", "pregnancy_evidence", "gestational_age",
          "situation", "current_opioid")


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
        Param('min_course_days', 28, "docs/clinical-rules.md §2 opioid-pregnancy: an opioid for 28 days or more "
              "(the CDC opioid CDS IG's subacute/chronic threshold, OpioidCDSRoutines: expectedSupplyDuration "
              ">= 28 days); the NOWS boxed warning is about \"prolonged use\" (review quote Q34)"),
        Param('max_plausible_weeks', 44, "data plausibility, not a clinical threshold: a gestational age recorded "
              "in the 42-week look-back (AHRQ CDS Connect PMS, review quote Q52) that would be past 44 weeks today (42 "
              "weeks, ICD-10-CM Z3A.49 \"greater than 42 weeks\", plus 2 weeks for dating) says the pregnancy is "
              "probably over: the card says the gestational age is unknown instead of printing it"),
    ),
)
