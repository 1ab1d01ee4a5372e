"""A failing, slow or hostile FHIR server (mocked with `responses`): the medication list that cannot be read
whole is a 412, never a 5xx or a hang; redirects and paging links off the server are not followed. The URL
tricks and the trickling server, against real servers, are in test_ssrf.py."""
from __future__ import annotations

import time

import requests
import responses

from cds_service import create_app
from conftest import EMPTY_SEARCH, NO_PREFETCH, SANDBOX_R4, load_json, mock_other_searches, post_hook


def _fault(client, **kwargs):
    """The response, and how many times the medication list was requested."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{SANDBOX_R4}/MedicationRequest", **kwargs)
        mock_other_searches(mock)
        response = post_hook(client, load_json(NO_PREFETCH))
        return response, sum("MedicationRequest" in c.request.url for c in mock.calls)


def test_fhir_401_on_the_medication_list_is_412(client):
    response, _ = _fault(client, status=401, json={"resourceType": "OperationOutcome"})
    assert response.status_code == 412


def test_fhir_operation_outcome_on_the_medication_list_is_412(client):
    response, _ = _fault(client, json={"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]})
    assert response.status_code == 412


def test_fhir_malformed_json_is_412(client):
    response, _ = _fault(client, body="{\"resourceType\": \"Bundle\", ", content_type="application/fhir+json")
    assert response.status_code == 412


def test_fhir_json_nested_beyond_the_parser_is_412(client):
    response, _ = _fault(client, body="[" * 100000 + "]" * 100000, content_type="application/fhir+json")
    assert response.status_code == 412


def test_fhir_timeout_is_412(client):
    response, _ = _fault(client, body=requests.ReadTimeout())
    assert response.status_code == 412


def test_endless_paging_stops_at_the_bound(config):
    client = create_app({**config, "FHIR_MAX_PAGES": 3}).test_client()
    endless = {"resourceType": "Bundle", "type": "searchset", "entry": [],
               "link": [{"relation": "next", "url": f"{SANDBOX_R4}/MedicationRequest?page=more"}]}
    response, requested = _fault(client, json=endless)
    assert response.status_code == 412
    assert requested == 3


def test_redirect_to_another_host_is_not_followed(client):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{SANDBOX_R4}/MedicationRequest", status=302, headers={"Location": "https://attacker.example.net/steal"})
        mock.get("https://attacker.example.net/steal", json=EMPTY_SEARCH)
        mock_other_searches(mock)
        response = post_hook(client, load_json(NO_PREFETCH))
        assert not any("attacker" in c.request.url for c in mock.calls)
    assert response.status_code == 412


def test_paging_link_to_another_host_is_not_followed(client):
    page = {"resourceType": "Bundle", "type": "searchset", "entry": [],
            "link": [{"relation": "next", "url": "https://attacker.example.net/MedicationRequest?page=2"}]}
    body = load_json(NO_PREFETCH)
    body["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer"}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{SANDBOX_R4}/MedicationRequest", json=page)
        mock.get("https://attacker.example.net/MedicationRequest", json=EMPTY_SEARCH)
        mock_other_searches(mock)
        response = post_hook(client, body)
        assert not any("attacker" in c.request.url for c in mock.calls)
    assert response.status_code == 412


def test_slow_fhir_server_is_abandoned_at_the_deadline(config):
    client = create_app({**config, "FHIR_DEADLINE": 0.3}).test_client()

    def slow(request):
        time.sleep(3)
        return 200, {}, '{"resourceType": "Bundle", "type": "searchset"}'

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.GET, f"{SANDBOX_R4}/MedicationRequest", callback=slow)
        mock_other_searches(mock)
        started = time.monotonic()
        response = post_hook(client, load_json(NO_PREFETCH))
        waited = time.monotonic() - started
    assert response.status_code == 412  # the medication list did not come in time
    assert waited < 2.5  # the call did not wait for the slow server (it sleeps 3 s)


def test_more_resources_than_the_bound_fail_the_search_whole(config):
    """A fast server sending a huge history must not cost the call unbounded work: past FHIR_MAX_RESOURCES the
    search fails whole (a partial medication list would be a confident wrong answer)."""
    client = create_app({**config, "FHIR_MAX_RESOURCES": 50}).test_client()
    entry = {"resource": {"resourceType": "MedicationRequest", "id": "m", "status": "completed", "intent": "order",
                          "subject": {"reference": "Patient/smart-7321938"},
                          "medicationCodeableConcept": {"text": "ibuprofen 200 MG Oral Tablet"}}}
    page = {"resourceType": "Bundle", "type": "searchset", "entry": [entry] * 30,
            "link": [{"relation": "next", "url": f"{SANDBOX_R4}/MedicationRequest?page=more"}]}
    response, requested = _fault(client, json=page)
    assert response.status_code == 412
    assert requested == 2  # 30, then 60 > 50: stopped, not read to the page bound
