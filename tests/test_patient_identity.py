"""Only the patient in context decides a card: another patient's records in the prefetch are ignored (and
counted), the patient id arrives as the CDC test suite sends it ("Patient/<id>"), and a critical check that
fails on a defect is shown as not run rather than read as safe."""
from __future__ import annotations

import copy
import logging

import responses

from conftest import load_json, post_hook, rule_ids
from cds_service import observability as obs
from cds_service.rules import RULES

FENTANYL = "fentanyl-patch-opioid-naive"
NAIVE = "fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json"
CHILD = "pediatric-codeine-tramadol/fires-codeine-for-8-year-old.order-sign.r4.json"
R4_SERVER = "https://launch.smarthealthit.org/v/r4/fhir"


def _request(relative: str) -> dict:
    return load_json(f"requests/{relative}")


def _morphine_er_for(subject: str) -> dict:
    """90 mg/day of morphine ER since October: enough to make the patient opioid-tolerant."""
    order = copy.deepcopy(load_json("resources/searchset-morphine-er-90mg-since-october.json")["entry"][0]["resource"])
    order["subject"] = {"reference": subject}
    return order


def _with_history(body: dict, order: dict) -> dict:
    body["prefetch"]["medicationRequests"]["entry"].append({"resource": order})
    return body


def test_patient_id_in_reference_form_gets_the_same_cards(client):
    bare = _request(NAIVE)
    as_reference = copy.deepcopy(bare)
    as_reference["context"]["patientId"] = "Patient/" + bare["context"]["patientId"]
    as_reference["context"]["encounterId"] = "Encounter/enc-20261122"
    assert rule_ids(post_hook(client, as_reference)) == rule_ids(post_hook(client, bare))
    assert FENTANYL in rule_ids(post_hook(client, as_reference))


def test_another_patients_opioid_history_never_silences_the_critical_card(client):
    before = obs.OTHER_PATIENT._value.get()
    body = _with_history(_request(NAIVE), _morphine_er_for("Patient/pt-someone-else"))
    assert FENTANYL in rule_ids(post_hook(client, body))
    assert obs.OTHER_PATIENT._value.get() == before + 1


def test_the_same_history_as_an_absolute_reference_to_this_patient_counts(client):
    body = _request(NAIVE)
    subject = f"https://fhir.example-hospital.org/api/FHIR/R4/Patient/{body['context']['patientId']}"
    body = _with_history(body, _morphine_er_for(subject))
    assert FENTANYL not in rule_ids(post_hook(client, body))  # seven weeks at 90 mg/day: opioid-tolerant


def test_a_prefetched_patient_with_another_id_is_not_this_childs_age(client):
    body = _request(CHILD)
    body["prefetch"]["demographics"] = {"resourceType": "Patient", "id": "pt-adult-45", "birthDate": "1981-03-02"}
    assert "pediatric-codeine-tramadol" in rule_ids(post_hook(client, body))


def test_a_patient_key_holding_only_another_patient_is_fetched_again(client):
    body = _request(CHILD)
    child = body["prefetch"]["patient"]
    body["prefetch"]["patient"] = {"resourceType": "Patient", "id": "pt-adult-45", "birthDate": "1981-03-02"}
    body["fhirServer"] = R4_SERVER
    with responses.RequestsMock() as mock:
        mock.get(f"{R4_SERVER}/Patient/{child['id']}", json=child)
        assert "pediatric-codeine-tramadol" in rule_ids(post_hook(client, body))


def test_a_critical_rule_that_fails_is_shown_as_not_run_and_counted(client, monkeypatch, caplog):
    def broken(facts, params):
        raise ValueError(facts.patient["name"][0]["family"])  # a defect whose message quotes patient data

    monkeypatch.setattr(RULES[FENTANYL], "evaluate", broken)
    before = obs.RULE_ERRORS.labels(FENTANYL)._value.get()
    with caplog.at_level(logging.INFO):
        response = post_hook(client, _request(NAIVE))
    cards = response.get_json()["cards"]
    failed = [c for c in cards if c["source"]["topic"]["code"] == "check-failed"]
    assert len(failed) == 1 and failed[0]["indicator"] == "info"
    assert "Fentanyl patch" in failed[0]["summary"] and "does **not** mean the order is safe" in failed[0]["detail"]
    assert FENTANYL not in rule_ids(response)
    assert obs.RULE_ERRORS.labels(FENTANYL)._value.get() == before + 1
    assert "rule fentanyl-patch-opioid-naive failed: ValueError" in caplog.text
    assert "Okafor" not in caplog.text


def test_a_failing_rule_with_no_critical_card_is_counted_but_not_shown(client, monkeypatch):
    def broken(facts, params):
        raise KeyError("x")

    monkeypatch.setattr(RULES["opioid-bowel-regimen"], "evaluate", broken)
    response = post_hook(client, _request(NAIVE))
    assert "check-failed" not in rule_ids(response)
