"""urine-drug-test-due: an opioid for >= 28 days, an adult, no urine drug screen in [today - 12 months - 1 day,
today] and none ordered."""
from __future__ import annotations

from datetime import date, timedelta

from facts_builder import ICD10CM, LOINC, TODAY, condition, excluded, order, patient_facts, run

from cds_service.rules.urine_drug_test_due import months_before

RULE = "urine-drug-test-due"
OXY = ("oxycodone hydrochloride 5 MG Oral Tablet", "1049621")


def oxy(days=30):
    return order(OXY[0], rxnorm=OXY[1], per_day=4, days=days)


def uds(when: date, code: str = "19295-5", status: str = "final") -> dict:
    return {"resourceType": "Observation", "id": f"uds-{when.isoformat()}-{status}", "status": status,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": code,
                                 "display": "Opiates [Presence] in Urine by Screen method"}]},
            "effectiveDateTime": when.isoformat(), "valueString": "Negative"}


def service_request(code: dict, status: str = "active") -> dict:
    return {"resourceType": "ServiceRequest", "id": f"sr-{status}", "status": status, "intent": "order",
            "code": code, "subject": {"reference": "Patient/pt-unit"}}


SNOMED_UDS = {"coding": [{"system": "http://snomed.info/sct", "code": "310627008",
                          "display": "Urine drug screening (procedure)"}]}


def test_window_is_twelve_calendar_months_and_a_day():
    assert months_before(date(2026, 11, 22), 12) == date(2025, 11, 22)
    assert months_before(date(2028, 2, 29), 12) == date(2027, 2, 28)
    edge = months_before(TODAY, 12) - timedelta(days=1)
    assert not run(RULE, patient_facts(drafts=[oxy()], observations=[uds(edge)]))
    [finding] = run(RULE, patient_facts(drafts=[oxy()], observations=[uds(edge - timedelta(days=1))]))
    assert finding.fields["last_test"] == "older" and finding.fields["test_date"] == (
        edge - timedelta(days=1)).isoformat()
    assert "19295-5" in finding.fields["test_name"]


def test_no_screen_at_all_fires_with_the_order_suggestion():
    [finding] = run(RULE, patient_facts(drafts=[oxy()]))
    assert finding.fields["last_test"] == "none" and finding.suggestions == ("order-urine-drug-screen",)


def test_course_edges_and_unknown_course():
    assert run(RULE, patient_facts(drafts=[oxy(28)]))
    assert not run(RULE, patient_facts(drafts=[oxy(27)]))
    assert not run(RULE, patient_facts(drafts=[oxy(7)]))
    assert not run(RULE, patient_facts(drafts=[oxy(None)]))


def test_a_result_that_is_not_a_result_does_not_count():
    assert run(RULE, patient_facts(drafts=[oxy()], observations=[uds(TODAY - timedelta(days=30),
                                                                      status="entered-in-error")]))
    assert run(RULE, patient_facts(drafts=[oxy()], observations=[uds(TODAY - timedelta(days=30),
                                                                      status="cancelled")]))
    assert not run(RULE, patient_facts(drafts=[oxy()], observations=[uds(TODAY - timedelta(days=30),
                                                                          status="preliminary")]))


def test_a_test_outside_the_cdc_set_does_not_count():
    creatinine = uds(TODAY - timedelta(days=30), code="2160-0")
    assert run(RULE, patient_facts(drafts=[oxy()], observations=[creatinine]))


def test_a_drafted_or_active_screen_order_silences():
    assert not run(RULE, patient_facts(drafts=[oxy()], draft_others=[service_request(SNOMED_UDS, "draft")]))
    assert not run(RULE, patient_facts(drafts=[oxy()], service_requests=[service_request(SNOMED_UDS)]))
    by_loinc = {"coding": [{"system": LOINC, "code": "19295-5"}]}
    assert not run(RULE, patient_facts(drafts=[oxy()], service_requests=[service_request(by_loinc)]))
    by_text = {"text": "Drug screen, urine, 10 panel"}
    assert not run(RULE, patient_facts(drafts=[oxy()], service_requests=[service_request(by_text)]))
    assert run(RULE, patient_facts(drafts=[oxy()], service_requests=[service_request(SNOMED_UDS, "completed")]))
    urinalysis = {"text": "Urinalysis with microscopy"}
    assert run(RULE, patient_facts(drafts=[oxy()], service_requests=[service_request(urinalysis)]))


def test_age_under_18_and_unknown_age_are_silent():
    assert not run(RULE, patient_facts(drafts=[oxy()], age=17))
    assert run(RULE, patient_facts(drafts=[oxy()], age=18))
    facts = patient_facts(drafts=[oxy()], age=None)
    assert not run(RULE, facts) and any(r == RULE for r, _ in facts.unknowns)


def test_buprenorphine_for_oud_is_not_a_pain_prescription():
    film = order("buprenorphine 8 MG / naloxone 2 MG Sublingual Film", rxnorm="1010604", per_day=2, days=30)
    assert not run(RULE, patient_facts(drafts=[film]))


def test_cancer_is_excluded():
    cancer = condition("C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung",
                       system=ICD10CM)
    assert excluded(RULE, patient_facts(drafts=[oxy()], conditions=[cancer]))
    assert not excluded(RULE, patient_facts(drafts=[oxy()]))


def test_no_laboratory_results_to_read_is_silent_and_logged():
    facts = patient_facts(drafts=[oxy()])
    facts.missing.append("labs")  # neither prefetched nor fetched
    assert not run(RULE, facts) and any(r == RULE and "laboratory" in what for r, what in facts.unknowns)
