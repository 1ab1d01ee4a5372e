"""nsaid-pregnancy-20-weeks: warning 20 to < 30 weeks, critical from 30 weeks, info when gestational age is
unknown; eye drops and low-dose aspirin are left alone."""
from __future__ import annotations

import json

from datetime import timedelta

from facts_builder import TODAY, condition, lab, order, patient_facts, run

RULE = "nsaid-pregnancy-20-weeks"
PREGNANT = condition("Z34.82", "Encounter for supervision of other normal pregnancy, second trimester",
                     recorded=TODAY - timedelta(days=60))
IBUPROFEN = "ibuprofen (MOTRIN) 600 MG tablet"


def ga(weeks: float, days_ago: int = 0, loinc: str = "11884-4", unit: str = "wk") -> dict:
    return lab(loinc, weeks, unit, display="Gestational age Estimated", when=TODAY - timedelta(days=days_ago))


def findings(*observations, draft=None, conditions=(PREGNANT,)):
    facts = patient_facts(drafts=[draft or order(IBUPROFEN, per_day=3, days=5)], conditions=list(conditions),
                          observations=list(observations), age=31)
    return run(RULE, facts), facts


def test_band_edges_19_6_silent_20_warning_29_6_warning_30_critical():
    assert not findings(ga(19, days_ago=6))[0]
    [warning] = findings(ga(20))[0]
    assert warning.variant is None and warning.fields["weeks"] == "20"
    assert warning.suggestions == ("remove-draft",)
    [still_warning] = findings(ga(29, days_ago=6))[0]
    assert still_warning.variant is None and still_warning.fields["weeks"] == "29"
    [critical] = findings(ga(30))[0]
    assert critical.variant == "late" and critical.suggestions == ("remove-draft",)


def test_days_elapsed_are_added_and_gestational_age_in_days_is_read():
    [finding] = findings(ga(26, days_ago=28))[0]  # 26 weeks four weeks ago: 30 weeks today
    assert finding.variant == "late" and "plus 28 days" in finding.fields["gestational_age"]
    [days] = findings(ga(150, loinc="49051-6", unit="d"))[0]  # 150 days = 21 weeks 3 days
    assert days.variant is None and days.fields["weeks"] == "21"


def test_gestational_age_from_a_z3a_code():
    z3a = condition("Z3A.31", "31 weeks gestation of pregnancy", recorded=TODAY - timedelta(days=3))
    [finding] = findings(conditions=(z3a,))[0]
    assert finding.variant == "late" and "Z3A.31" in finding.fields["gestational_age"]


def test_unknown_gestational_age_is_an_info_variant_and_logged():
    [finding], facts = findings()
    assert finding.variant == "unknown" and finding.suggestions == () and finding.fields["why_unknown"] == "none"
    assert any(r == RULE and "gestational age" in what for r, what in facts.unknowns)


def test_stale_gestational_age_is_not_used():
    [finding] = findings(ga(30, days_ago=7 * 20))[0]  # would be 50 weeks today: an old record, not used
    assert finding.variant == "unknown" and "50" not in json.dumps(finding.fields)


def test_ophthalmic_ketorolac_is_silent_by_name_or_by_route():
    drops = order("ketorolac tromethamine 5 MG/ML Ophthalmic Solution", unit="drop", per_day=4, days=14)
    assert not findings(ga(32), draft=drops)[0]
    by_route = order("ketorolac 0.5 % solution", unit="drop", per_day=4, days=14, route="Left Eye")
    assert not findings(ga(32), draft=by_route)[0]
    assert findings(ga(32), draft=order("ketorolac 0.5 % solution", unit="drop", per_day=4, days=14))[0]
    tablet = order("ketorolac tromethamine 10 MG Oral Tablet", rxnorm="834022", per_day=4, days=5)
    assert findings(ga(32), draft=tablet)[0]


def test_aspirin_81_mg_is_silent_and_325_mg_fires():
    low = order("aspirin 81 MG Oral Tablet", rxnorm="243670", per_day=1, days=90)
    assert not findings(ga(24), draft=low)[0]
    two_low = order("aspirin 81 MG Oral Tablet", rxnorm="243670", dose=2, per_day=1, days=30)  # 162 mg/day
    assert findings(ga(24), draft=two_low)[0]
    full = order("aspirin 325 MG Oral Tablet", rxnorm="212033", per_day=4, days=5)
    assert findings(ga(24), draft=full)[0]


def test_nsaid_in_a_combination_product_counts():
    combo = order("hydrocodone bitartrate 5 MG / ibuprofen 200 MG Oral Tablet", rxnorm="858778", per_day=3, days=5)
    assert findings(ga(33), draft=combo)[0][0].variant == "late"


def test_not_pregnant_is_silent():
    assert not run(RULE, patient_facts(drafts=[order(IBUPROFEN, per_day=3, days=5)], age=31))


def test_a_non_nsaid_is_silent():
    acetaminophen = order("acetaminophen 500 MG Oral Tablet", per_day=3, days=5)
    assert not findings(ga(32), draft=acetaminophen)[0]
