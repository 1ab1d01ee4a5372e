"""opioid-pregnancy: a long (>= 28 days) or ER/LA opioid draft for a pregnant patient; never MOUD."""
from __future__ import annotations

from datetime import timedelta

from facts_builder import ICD10CM, LOINC, SNOMED, TODAY, condition, excluded, lab, order, patient_facts, run

RULE = "opioid-pregnancy"
OXY = ("oxycodone hydrochloride 5 MG Oral Tablet", "1049621")
PREGNANT = condition("Z34.82", "Encounter for supervision of other normal pregnancy, second trimester",
                     recorded=TODAY - timedelta(days=40))


def status(value_code: str, value_display: str, when=None) -> dict:
    return {"resourceType": "Observation", "id": f"ps-{value_code}", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}]},
            "effectiveDateTime": (when or TODAY - timedelta(days=5)).isoformat(),
            "valueCodeableConcept": {"coding": [{"system": SNOMED, "code": value_code, "display": value_display}]}}


def oxy(days=30, **kw):
    return order(OXY[0], rxnorm=OXY[1], per_day=4, days=days, **kw)


def test_thirty_days_of_oxycodone_in_pregnancy_fires_with_the_evidence_and_no_suggestion():
    facts = patient_facts(drafts=[oxy(30)], conditions=[PREGNANT], age=29)
    [finding] = run(RULE, facts)
    assert finding.fields["course"] == "days" and finding.fields["days"] == "30"
    assert "Z34.82" in finding.fields["pregnancy_evidence"]
    assert (TODAY - timedelta(days=40)).isoformat() in finding.fields["pregnancy_evidence"]
    assert finding.fields["gestational_age"] == "unknown"
    assert finding.suggestions == () and finding.fields["situation"] == "new"


def test_course_edge_28_days_fires_27_days_is_silent():
    assert run(RULE, patient_facts(drafts=[oxy(28)], conditions=[PREGNANT]))
    assert not run(RULE, patient_facts(drafts=[oxy(27)], conditions=[PREGNANT]))


def test_short_course_without_a_stated_supply_is_silent_and_logged():
    facts = patient_facts(drafts=[oxy(None)], conditions=[PREGNANT])
    assert not run(RULE, facts)
    assert any(r == RULE and "course length" in what for r, what in facts.unknowns)


def test_validity_period_counts_only_when_no_supply_can_be_read():
    validity = {"validityPeriod": {"start": TODAY.isoformat(), "end": (TODAY + timedelta(days=90)).isoformat()}}
    no_supply = oxy(None)
    no_supply["dispenseRequest"] = dict(validity)
    assert run(RULE, patient_facts(drafts=[no_supply], conditions=[PREGNANT]))
    seven_days = oxy(7)
    seven_days["dispenseRequest"].update(validity)
    assert not run(RULE, patient_facts(drafts=[seven_days], conditions=[PREGNANT]))


def test_er_la_opioid_fires_whatever_the_course():
    er = order("12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet", rxnorm="1049502", per_day=2,
               days=7)
    [finding] = run(RULE, patient_facts(drafts=[er], conditions=[PREGNANT]))
    assert finding.fields["course"] == "er_la"


def test_buprenorphine_for_oud_is_never_flagged_but_a_buprenorphine_patch_is():
    film = order("buprenorphine 8 MG / naloxone 2 MG Sublingual Film", rxnorm="1010604", per_day=2, days=30)
    assert not run(RULE, patient_facts(drafts=[film], conditions=[PREGNANT]))
    patch = order("168 HR buprenorphine 0.005 MG/HR Transdermal System [BuTrans]", rxnorm="904882", unit="patch",
                  per_day=None, days=28)
    assert run(RULE, patient_facts(drafts=[patch], conditions=[PREGNANT]))


def test_methadone_for_oud_is_silent_methadone_for_pain_fires():
    oud = {"coding": [{"system": ICD10CM, "code": "F11.20", "display": "Opioid dependence, uncomplicated"}]}
    pain = {"coding": [{"system": ICD10CM, "code": "G89.29", "display": "Other chronic pain"}]}
    methadone = ("methadone hydrochloride 10 MG Oral Tablet", "864706")
    assert not run(RULE, patient_facts(drafts=[order(*methadone[:1], rxnorm=methadone[1], reason=oud)],
                                       conditions=[PREGNANT]))
    assert run(RULE, patient_facts(drafts=[order(*methadone[:1], rxnorm=methadone[1], reason=pain)],
                                   conditions=[PREGNANT]))


def test_not_pregnant_or_a_newer_not_pregnant_status_is_silent():
    assert not run(RULE, patient_facts(drafts=[oxy(30)]))
    negative = status("60001007", "Not pregnant (finding)", when=TODAY - timedelta(days=2))
    assert not run(RULE, patient_facts(drafts=[oxy(30)], conditions=[PREGNANT], observations=[negative]))


def test_pregnancy_from_a_status_observation_is_cited_with_its_date():
    facts = patient_facts(drafts=[oxy(30)], observations=[status("77386006", "Patient currently pregnant")])
    [finding] = run(RULE, facts)
    assert "82810-3" in finding.fields["pregnancy_evidence"] and "77386006" in finding.fields["pregnancy_evidence"]


def test_gestational_age_shown_with_days_elapsed():
    ga = lab("49051-6", 22, "wk", display="Gestational age in weeks", when=TODAY - timedelta(days=14))
    [finding] = run(RULE, patient_facts(drafts=[oxy(30)], conditions=[PREGNANT], observations=[ga]))
    assert finding.fields["gestational_age"].startswith("about 24 weeks today")
    assert "plus 14 days" in finding.fields["gestational_age"]


def test_implausible_gestational_age_is_not_printed():
    ga = lab("11884-4", 38, "wk", display="Gestational age Estimated", when=TODAY - timedelta(days=70))
    [finding] = run(RULE, patient_facts(drafts=[oxy(30)], conditions=[PREGNANT], observations=[ga]))
    assert finding.fields["gestational_age"].startswith("unknown")


def test_already_on_opioids_quotes_the_tapering_advice():
    current = oxy(30, status="active", authored=TODAY - timedelta(days=60))
    [finding] = run(RULE, patient_facts(drafts=[oxy(30)], current=[current], conditions=[PREGNANT]))
    assert finding.fields["situation"] == "already" and "oxycodone" in finding.fields["current_opioid"]


def test_no_exclusion_a_pregnant_patient_with_cancer_still_gets_the_card():
    cancer = condition("C50.911", "Malignant neoplasm of unspecified site of right female breast")
    facts = patient_facts(drafts=[oxy(30)], conditions=[PREGNANT, cancer])
    assert not excluded(RULE, facts) and run(RULE, facts)
