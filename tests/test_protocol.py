"""CDS Hooks 2.0 protocol: discovery, hook calls and their error statuses, prefetch variants, FHIR fallback,
feedback and CORS."""
from __future__ import annotations

import copy
import json
import re

import pytest
import requests
import responses

from cds_service import create_app
from conftest import EMPTY_SEARCH, SERVICE_FOR_HOOK, load_json, post_hook, rule_ids

FENTANYL_NAIVE = "requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json"
FENTANYL_TOLERANT = "requests/fentanyl-patch-opioid-naive/silent-morphine-90mg-for-two-weeks.order-sign.r4.json"
R4_SERVER = "https://launch.smarthealthit.org/v/r4/fhir"
FENTANYL = "fentanyl-patch-opioid-naive"


# -- discovery --------------------------------------------------------------------------------------------------
def test_discovery_lists_one_service_per_medication_hook(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = response.get_json()["services"]
    assert sorted(s["hook"] for s in services) == ["medication-prescribe", "order-select", "order-sign"]
    for service in services:
        assert service["id"] and service["title"] and service["description"]
        expected = {"patient", "medicationRequests", "medicationStatements", "medicationDispenses", "conditions",
                    "observations", "screenings", "labs", "procedures", "serviceRequests", "encounters"}
        if service["hook"] == "medication-prescribe":
            expected.remove("serviceRequests")  # DSTU2 has no ServiceRequest
        assert set(service["prefetch"]) == expected


def test_prefetch_templates_use_only_root_level_context_tokens(client):
    for service in client.get("/cds-services").get_json()["services"]:
        for template in service["prefetch"].values():
            tokens = re.findall(r"\{\{([^}]*)\}\}", template)
            assert tokens == ["context.patientId"], template


def test_observation_prefetch_asks_for_the_ecg_loinc_codes(client):
    template = client.get("/cds-services").get_json()["services"][0]["prefetch"]["observations"]
    for code in ("11524-6", "34534-8", "8601-7", "8634-8", "8636-3"):
        assert f"http://loinc.org|{code}" in template


def test_the_dstu2_service_asks_for_what_a_dstu2_server_has(client):
    """medication-prescribe (CDS Hooks 1.0) is called by DSTU2 clients: its medication list template names
    MedicationOrder, which a DSTU2 server answers; the 2.0 services name MedicationRequest."""
    services = {s["hook"]: s["prefetch"] for s in client.get("/cds-services").get_json()["services"]}
    assert services["medication-prescribe"]["medicationRequests"].startswith("MedicationOrder?patient=")
    assert services["order-sign"]["medicationRequests"].startswith("MedicationRequest?patient=")
    assert services["order-select"]["medicationRequests"].startswith("MedicationRequest?patient=")


def test_optional_elements_sent_as_null_are_absent(client):
    """Da Vinci CRD request generators send "fhirAuthorization": null and "encounterId": null."""
    body = load_json(FENTANYL_NAIVE)
    body["fhirAuthorization"] = None
    body["context"]["encounterId"] = None
    assert FENTANYL in rule_ids(post_hook(client, body))


# -- hook calls: errors ------------------------------------------------------------------------------------------
def test_unknown_service_is_404_with_json(client):
    response = client.post("/cds-services/no-such-service", json=load_json(FENTANYL_NAIVE))
    assert response.status_code == 404
    assert response.get_json()["error"] == "unknown_service"


def test_hook_that_does_not_match_the_service_is_400(client):
    body = load_json(FENTANYL_NAIVE)  # order-sign
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK['order-select']}", json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == "hook"


@pytest.mark.parametrize("mutate, field", [
    (lambda b: b.pop("hookInstance"), "hookInstance"),
    (lambda b: b.pop("context"), "context"),
    (lambda b: b["context"].pop("patientId"), "context.patientId"),
    (lambda b: b["context"].pop("draftOrders"), "context.draftOrders"),
    (lambda b: b["context"].update(patientId="../Patient?x=1"), "context.patientId"),
    (lambda b: b["context"].update(draftOrders=[1, 2]), "context.draftOrders"),
    (lambda b: b.update(fhirAuthorization={"access_token": "t", "token_type": "Bearer"}) or b.pop("fhirServer"),
     "fhirServer"),
    (lambda b: b["prefetch"].update(medicationRequests="not a resource"), "prefetch.medicationRequests"),
])
def test_invalid_request_is_400_naming_the_field(client, mutate, field):
    body = load_json(FENTANYL_NAIVE)
    mutate(body)
    response = post_hook(client, body, SERVICE_FOR_HOOK["order-sign"])
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_draft_with_a_wrongly_typed_dose_field_is_400_naming_it(client):
    body = load_json(FENTANYL_NAIVE)
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = "every three days"
    response = post_hook(client, body)
    assert response.status_code == 400
    assert response.get_json()["field"] == (
        "context.draftOrders.entry[0].resource.dosageInstruction[0].timing.repeat.frequency")


def test_selection_naming_no_draft_is_400(client):
    body = load_json(FENTANYL_NAIVE.replace("order-sign", "order-select"))
    body["context"]["selections"] = ["MedicationRequest/not-in-the-bundle"]
    response = post_hook(client, body)
    assert response.status_code == 400
    assert response.get_json()["field"] == "context.selections[0]"


def test_body_that_is_not_json_is_400(client):
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}", data="{not json",
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_json"


def test_wrong_content_type_is_415(client):
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}",
                           data=json.dumps(load_json(FENTANYL_NAIVE)), content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"


def test_body_over_the_size_limit_is_413(tmp_path, config):
    app = create_app({**config, "MAX_CONTENT_LENGTH": 2048})
    response = app.test_client().post(f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}",
                                      json=load_json(FENTANYL_NAIVE))
    assert response.status_code == 413
    assert response.get_json()["error"] == "request_too_large"


# -- drafts and hooks ---------------------------------------------------------------------------------------------
def test_draft_without_a_medication_yet_gets_no_cards_and_no_fetch(client):
    body = load_json("sandbox/order-select-r4-draft-without-medication.json")
    with responses.RequestsMock() as mock:
        response = post_hook(client, body)
        assert len(mock.calls) == 0
    assert response.status_code == 200
    assert response.get_json() == {"cards": []}


def test_order_select_reports_only_on_selected_drafts(client):
    body = load_json(FENTANYL_NAIVE.replace("order-sign", "order-select"))
    drafts = body["context"]["draftOrders"]["entry"]
    extra = copy.deepcopy(drafts[0])
    extra["resource"]["id"] = "draft-lisinopril"
    extra["resource"]["medicationCodeableConcept"] = {"text": "lisinopril 20 MG Oral Tablet"}
    drafts.append(extra)
    body["context"]["selections"] = ["MedicationRequest/draft-lisinopril"]
    assert rule_ids(post_hook(client, body)) == []
    body["context"]["selections"] = ["MedicationRequest/draft-fentanyl-25"]
    assert rule_ids(post_hook(client, body))[0] == FENTANYL


def test_medication_prescribe_accepts_medications_as_a_bundle(client):
    body = load_json(FENTANYL_NAIVE.replace("order-sign.r4", "medication-prescribe.dstu2"))
    body["context"]["medications"] = {"resourceType": "Bundle", "type": "collection",
                                      "entry": [{"resource": r} for r in body["context"]["medications"]]}
    assert FENTANYL in rule_ids(post_hook(client, body))


def test_every_card_is_well_formed(client):
    response = post_hook(client, load_json(FENTANYL_NAIVE))
    card = response.get_json()["cards"][0]
    assert set(card) == {"uuid", "summary", "indicator", "detail", "source", "suggestions", "selectionBehavior",
                         "overrideReasons", "extension"}  # extension: the findings folded into it (its lines)
    assert card["extension"] == {"pain-medication-safety.folded": [
        "high-mme", "naloxone-coprescribe", "opioid-bowel-regimen", "opioid-risk-screening", "urine-drug-test-due"]}
    assert len(card["summary"]) <= 139
    assert card["source"]["url"].startswith("https://")
    assert card["source"]["topic"] == {"system": "urn:pain-medication-safety:rule",
                                       "code": "fentanyl-patch-opioid-naive",
                                       "display": "Fentanyl patch for a patient who is not opioid-tolerant"}
    assert all(r["code"] and r["system"] and r["display"] for r in card["overrideReasons"])
    assert card["selectionBehavior"] == "at-most-one"
    for suggestion in card["suggestions"]:
        assert suggestion["uuid"] and suggestion["label"]
        for action in suggestion["actions"]:
            assert action["type"] in ("create", "delete") and action["description"]
            assert ("resource" in action) != ("resourceId" in action)


# -- prefetch variants ---------------------------------------------------------------------------------------------
def test_prefetch_null_means_no_data_and_is_not_fetched(client):
    body = load_json(FENTANYL_NAIVE)
    body["prefetch"] = {key: None for key in body["prefetch"]}
    body["fhirServer"] = R4_SERVER
    with responses.RequestsMock() as mock:
        assert FENTANYL in rule_ids(post_hook(client, body))
        assert len(mock.calls) == 0  # null is an answer: nothing is fetched


def test_prefetch_single_resource_is_read(client):
    body = load_json(FENTANYL_TOLERANT)
    bundle = body["prefetch"]["medicationRequests"]
    body["prefetch"]["medicationRequests"] = bundle["entry"][0]["resource"]  # the ER order alone
    body["prefetch"]["extraMorphine"] = bundle["entry"][1]["resource"]  # the IR order under a key of its own
    assert FENTANYL not in rule_ids(post_hook(client, body))


def test_operation_outcome_prefetch_is_fetched_again(client):
    body = load_json(FENTANYL_TOLERANT)
    bundle = body["prefetch"]["medicationRequests"]
    body["prefetch"]["medicationRequests"] = {"resourceType": "OperationOutcome", "issue": [
        {"severity": "error", "code": "timeout"}]}
    body["fhirServer"] = R4_SERVER
    body["fhirAuthorization"] = {"access_token": "secret-token-123", "token_type": "Bearer", "expires_in": 300,
                                 "scope": "patient/*.read", "subject": "cds-service"}
    with responses.RequestsMock() as mock:
        mock.get(f"{R4_SERVER}/MedicationRequest", json=bundle)
        assert FENTANYL not in rule_ids(post_hook(client, body))
        assert mock.calls[0].request.headers["Authorization"] == "Bearer secret-token-123"
        assert mock.calls[0].request.params == {"patient": "pt-fent-5"}


def test_resources_under_a_clients_own_keys_are_used(client):
    body = load_json("sandbox/order-select-r4-tramadol-own-prefetch-keys.json")
    with responses.RequestsMock() as mock:
        # MedicationRequest came under the client's key "activeMeds"; only the other kinds are fetched.
        for kind in OTHER_R4_KINDS:
            mock.get(f"{R4_SERVER}/{kind}", json=EMPTY_SEARCH)
        assert rule_ids(post_hook(client, body)) == ["tramadol-serotonergic"]
        fetched = {call.request.url.split("?")[0].rsplit("/", 1)[1] for call in mock.calls}
    assert fetched == set(OTHER_R4_KINDS)


OTHER_R4_KINDS = ("MedicationStatement", "MedicationDispense", "Condition", "Observation", "Procedure",
                  "ServiceRequest", "Encounter")


# -- FHIR fallback ---------------------------------------------------------------------------------------------------
def _mock_r4(mock, medication_requests):
    mock.get(f"{R4_SERVER}/MedicationRequest", json=medication_requests)
    for kind in OTHER_R4_KINDS:
        mock.get(f"{R4_SERVER}/{kind}", json=EMPTY_SEARCH)
    mock.get(f"{R4_SERVER}/Patient/smart-7321938", json={"resourceType": "Patient", "id": "smart-7321938"})


def test_no_prefetch_fetches_from_an_allow_listed_server_and_fires(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    with responses.RequestsMock() as mock:
        _mock_r4(mock, EMPTY_SEARCH)
        assert FENTANYL in rule_ids(post_hook(client, body))
        assert len(mock.calls) == 11  # every prefetch key, concurrently


def test_no_prefetch_fetched_history_can_silence_the_rule(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    with responses.RequestsMock() as mock:
        _mock_r4(mock, load_json("resources/searchset-morphine-er-90mg-since-october.json"))
        assert FENTANYL not in rule_ids(post_hook(client, body))


def test_dstu2_fallback_asks_for_medication_orders(client):
    body = load_json("sandbox/order-select-dstu2-fentanyl-patch.json")
    server = "https://launch.smarthealthit.org/v/r2/fhir"
    with responses.RequestsMock() as mock:
        for kind in ("MedicationOrder", "MedicationStatement", "MedicationDispense", "Condition", "Observation",
                     "Procedure"):
            mock.get(f"{server}/{kind}", json=EMPTY_SEARCH)
        mock.get(f"{server}/Patient/smart-7321938", json={"resourceType": "Patient", "id": "smart-7321938"})
        response = post_hook(client, body)
    assert FENTANYL in rule_ids(response)
    create = response.get_json()["cards"][0]["suggestions"][0]["actions"][1]["resource"]
    assert create["resourceType"] == "MedicationOrder"  # written for the client's DSTU2 server


def test_server_not_on_the_allow_list_is_never_called_and_medications_missing_is_412(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    body["fhirServer"] = "https://attacker.example.net/fhir"
    body["fhirAuthorization"] = {"access_token": "secret-token-123", "token_type": "Bearer"}
    with responses.RequestsMock() as mock:
        response = post_hook(client, body)
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert "medication" in response.get_json()["message"]
    assert "secret-token-123" not in response.get_data(as_text=True)


def test_fhir_server_failure_on_the_medication_list_is_412(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _mock_r4(mock, EMPTY_SEARCH)
        mock.replace(responses.GET, f"{R4_SERVER}/MedicationRequest", status=500)
        response = post_hook(client, body)
    assert response.status_code == 412


def test_failing_optional_data_degrades_and_says_what_was_missing(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _mock_r4(mock, EMPTY_SEARCH)
        mock.replace(responses.GET, f"{R4_SERVER}/MedicationStatement", body=requests.ConnectTimeout())
        mock.replace(responses.GET, f"{R4_SERVER}/MedicationDispense", body="<html>not json</html>")
        response = post_hook(client, body)
    assert FENTANYL in rule_ids(response)
    detail = response.get_json()["cards"][0]["detail"]
    assert "Not available to this check: medicationStatements, medicationDispenses" in detail


def test_paging_is_followed_on_the_same_server_only(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    morphine = load_json("resources/searchset-morphine-er-90mg-since-october.json")
    first_page = {"resourceType": "Bundle", "type": "searchset", "entry": [],
                  "link": [{"relation": "next", "url": f"{R4_SERVER}/MedicationRequest?page=2"}]}
    with responses.RequestsMock() as mock:
        _mock_r4(mock, first_page)
        mock.replace(responses.GET, f"{R4_SERVER}/MedicationRequest", json=first_page,
                     match=[responses.matchers.query_param_matcher({"patient": "smart-7321938"})])
        mock.get(f"{R4_SERVER}/MedicationRequest", json=morphine,
                 match=[responses.matchers.query_param_matcher({"page": "2"})])
        assert FENTANYL not in rule_ids(post_hook(client, body))  # the morphine on page 2 was read


def _morphine_by_reference() -> dict:
    """The morphine ER history as Epic's search returns it: the medication named by a reference and a display."""
    bundle = load_json("resources/searchset-morphine-er-90mg-since-october.json")
    order = bundle["entry"][0]["resource"]
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/erx-50123", "display": "MORPHINE SULFATE ER"}
    return bundle


MORPHINE_ER_MEDICATION = {"resourceType": "Medication", "id": "erx-50123", "code": {"coding": [
    {"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.698288", "code": "50123", "display": "MORPHINE SULFATE ER"},
    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "891885"}], "text": "MORPHINE SULFATE ER"}}


def test_medications_named_only_by_reference_are_fetched_and_read(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    with responses.RequestsMock() as mock:
        _mock_r4(mock, _morphine_by_reference())
        mock.get(f"{R4_SERVER}/Medication", json={"resourceType": "Bundle", "type": "searchset",
                                                  "entry": [{"resource": MORPHINE_ER_MEDICATION}]},
                 match=[responses.matchers.query_param_matcher({"_id": "erx-50123"})])
        # 90 mg/day of morphine ER for seven weeks, known only from the fetched Medication: opioid-tolerant.
        assert FENTANYL not in rule_ids(post_hook(client, body))


def test_a_failed_medication_fetch_falls_back_to_the_display_and_the_dose_is_unknown(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    with responses.RequestsMock() as mock:
        _mock_r4(mock, _morphine_by_reference())
        mock.get(f"{R4_SERVER}/Medication", status=503)
        response = post_hook(client, body)
    # "MORPHINE SULFATE ER" says no strength: tolerance cannot be shown, so the patch still gets its card.
    assert FENTANYL in rule_ids(response)


# -- feedback ---------------------------------------------------------------------------------------------------------
def _feedback(card_uuid: str, suggestion: str | None = None) -> dict:
    item = {"card": card_uuid, "outcome": "accepted" if suggestion else "overridden",
            "outcomeTimestamp": "2026-11-22T15:03:11Z"}
    if suggestion:
        item["acceptedSuggestions"] = [{"id": suggestion}]
    else:
        item["overrideReason"] = {"reason": {"code": "palliative-care", "system":
                                             "urn:pain-medication-safety:override-reason",
                                             "display": "Palliative or end-of-life care"},
                                  "userComment": "hospice referral in progress"}
    return {"feedback": [item]}


def test_feedback_is_stored_once_with_the_rule_of_its_card(app, client):
    card = post_hook(client, load_json(FENTANYL_NAIVE)).get_json()["cards"][0]
    service = SERVICE_FOR_HOOK["order-sign"]
    first = client.post(f"/cds-services/{service}/feedback", json=_feedback(card["uuid"]))
    again = client.post(f"/cds-services/{service}/feedback", json=_feedback(card["uuid"]))
    assert first.status_code == again.status_code == 200
    assert again.get_json() == {"stored": 0, "duplicates": 1}
    rows = app.extensions["cds_store"].feedback()
    assert len(rows) == 1
    row = rows[0]
    assert (row["service_id"], row["card_uuid"], row["rule_id"], row["outcome"], row["override_code"],
            row["user_comment"]) == (service, card["uuid"], "fentanyl-patch-opioid-naive", "overridden",
                                     "palliative-care", "hospice referral in progress")


def test_accepted_suggestion_ids_are_stored(app, client):
    card = post_hook(client, load_json(FENTANYL_NAIVE)).get_json()["cards"][0]
    suggestion = card["suggestions"][0]["uuid"]
    service = SERVICE_FOR_HOOK["order-sign"]
    assert client.post(f"/cds-services/{service}/feedback", json=_feedback(card["uuid"], suggestion)).status_code == 200
    assert app.extensions["cds_store"].feedback()[0]["accepted_suggestions"] == [suggestion]


def test_feedback_survives_an_app_restart(config):
    client = create_app(config).test_client()
    service = SERVICE_FOR_HOOK["order-sign"]
    client.post(f"/cds-services/{service}/feedback", json=_feedback("card-1"))
    assert len(create_app(config).extensions["cds_store"].feedback()) == 1


@pytest.mark.parametrize("body, field", [
    ({}, "feedback"),
    ({"feedback": []}, "feedback"),
    ({"feedback": [{"card": "x", "outcome": "ignored", "outcomeTimestamp": "2026-11-22T15:03:11Z"}]},
     "feedback[0].outcome"),
    ({"feedback": [{"card": "x", "outcome": "accepted", "outcomeTimestamp": "yesterday"}]},
     "feedback[0].outcomeTimestamp"),
])
def test_invalid_feedback_is_400_naming_the_field(client, body, field):
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}/feedback", json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == field


def test_feedback_for_an_unknown_service_is_404(client):
    response = client.post("/cds-services/nope/feedback", json=_feedback("x"))
    assert response.status_code == 404


# -- CORS ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/cds-services", f"/cds-services/{SERVICE_FOR_HOOK['order-select']}",
                                  f"/cds-services/{SERVICE_FOR_HOOK['order-select']}/feedback"])
def test_preflight_is_answered_on_every_route(client, path):
    response = client.options(path, headers={"Origin": "https://sandbox.cds-hooks.org",
                                             "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert set(h.strip() for h in response.headers["Access-Control-Allow-Headers"].split(",")) >= {
        "Authorization", "Content-Type"}


def test_cors_origins_are_configurable(config):
    client = create_app({**config, "CORS_ALLOWED_ORIGINS": ["https://sandbox.cds-hooks.org"]}).test_client()
    allowed = client.get("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"})
    other = client.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_wrong_method_is_405_with_json(client):
    response = client.get(f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}")
    assert response.status_code == 405
    assert response.get_json()["error"] == "method_not_allowed"
