"""Hostile hook bodies: whatever the schema lets through gets an answer or a clear 4xx, never a 5xx, and no
body can buy unbounded work."""
from __future__ import annotations

import copy
import json

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import (EMPTY_SEARCH, NO_PREFETCH, SANDBOX_R4, SERVICE_FOR_HOOK, load_json, mock_other_searches,
                      post_hook, rule_ids)

HOOK_URL = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}"
HIGH_MME = "requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.order-sign.r4.json"  # fires high-mme
def _with_drafts(count: int) -> dict:
    body = load_json(HIGH_MME)
    draft = body["context"]["draftOrders"]["entry"][0]
    entries = []
    for i in range(count):
        entry = copy.deepcopy(draft)
        entry["resource"]["id"] = f"draft-{i}"
        entries.append(entry)
    body["context"]["draftOrders"]["entry"] = entries
    return body


@pytest.mark.parametrize("count", [201, 3000])
def test_more_medication_orders_than_the_bound_is_a_400_naming_the_setting(client, count):
    response = client.post(HOOK_URL, json=_with_drafts(count))
    assert response.status_code == 400
    assert response.get_json()["field"] == "context.draftOrders"
    assert "MAX_DRAFT_ORDERS" in response.get_json()["message"]


def test_an_order_set_at_the_bound_is_checked_whole(client):
    response = client.post(HOOK_URL, json=_with_drafts(200))
    assert response.status_code == 200
    assert "high-mme" in [c["source"]["topic"]["code"] for c in response.get_json()["cards"]]


# -- hostile bodies ------------------------------------------------------------------------------------------------
DRAFT = ("context", "draftOrders", "entry", 0, "resource")
MORPHINE_ER = ("prefetch", "medicationRequests", "entry", 2, "resource")  # the current opioid the total counts


def _nested_text(depth: int, shape: str) -> str:
    """JSON text nested ``depth`` levels: FHIR extensions within extensions, plain objects, or arrays."""
    if shape == "extension":
        return '{"url": "http://x.org", "extension": [' * depth + '{"url": "http://x.org", "valueString": "y"}' + "]}" * depth
    if shape == "object":
        return '{"a": ' * depth + "{}" + "}" * depth
    return "[" * depth + "]" * depth


def _body_with_nesting(path: tuple, depth: int, shape: str) -> str:
    body = load_json(HIGH_MME)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = ["@nested@"]
    return json.dumps(body).replace('"@nested@"', _nested_text(depth, shape))


def test_draft_nested_too_deeply_is_400_naming_the_draft(client):
    body = _body_with_nesting((*DRAFT, "dosageInstruction", 0, "extension"), 400, "extension")
    response = client.post(HOOK_URL, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["field"] == "context.draftOrders.entry[0].resource"
    assert "nested too deeply" in response.get_json()["message"]


def test_deep_nesting_in_a_history_record_does_not_hide_its_risk(client):
    """A junk extension deep inside the current morphine order is skipped; the morphine still counts: the
    cards, totals included, are those of the same request without the junk."""
    assert load_json(HIGH_MME)["prefetch"]["medicationRequests"]["entry"][2]["resource"]["id"] == "rx-morphine-er"
    clean = post_hook(client, load_json(HIGH_MME)).get_json()["cards"]
    body = _body_with_nesting((*MORPHINE_ER, "extension"), 300, "extension")  # 600 levels of JSON
    response = client.post(HOOK_URL, data=body, content_type="application/json")
    assert "high-mme" in rule_ids(response)
    assert [(c["summary"], c["detail"]) for c in response.get_json()["cards"]] == [
        (c["summary"], c["detail"]) for c in clean]


@pytest.mark.parametrize("path", [
    (*DRAFT, "extension"), (*DRAFT, "medicationCodeableConcept", "extension"), (*DRAFT, "reasonCode"),
    (*DRAFT, "dosageInstruction", 0, "timing", "extension"), (*DRAFT, "note"), (*DRAFT, "contained"),
    (*MORPHINE_ER, "dosageInstruction"), (*MORPHINE_ER, "medicationCodeableConcept", "coding"),
    (*MORPHINE_ER, "contained"), ("prefetch", "conditions", "entry"), ("extension",), ("context", "extra"),
])
@pytest.mark.parametrize("depth", [60, 300, 900, 5000])
@pytest.mark.parametrize("shape", ["extension", "object", "array"])
def test_nesting_anywhere_at_any_depth_is_answered_or_refused_never_a_failure(client, caplog, path, depth, shape):
    response = client.post(HOOK_URL, data=_body_with_nesting(path, depth, shape), content_type="application/json")
    assert response.status_code in (200, 400), response.get_json()
    assert response.is_json
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]  # no rule failed on the way


@pytest.mark.parametrize("change", [
    lambda text: text.replace('"id": "rx-morphine-er"', '"id": "rx-morphine-er", "extension": [NaN, Infinity]'),
    lambda text: "\ufeff" + text,  # a byte-order mark
    lambda text: text.replace('"id": "rx-morphine-er"', '"id": "rx-morphine-er", "note": [{"text": "\\ud800"}]'),
])
def test_json_only_the_standard_parser_reads_is_read_as_before(client, change):
    """orjson parses bodies first; what it refuses and the standard library reads is still read."""
    text = json.dumps(load_json(HIGH_MME))
    assert '"id": "rx-morphine-er"' in text
    response = client.post(HOOK_URL, data=change(text).encode(), content_type="application/json")
    assert response.status_code == 200
    assert "high-mme" in rule_ids(response)


def test_pathologically_nested_json_is_400_not_a_crash(client):
    response = client.post(HOOK_URL, data="[" * 200000 + "]" * 200000, content_type="application/json")
    assert response.status_code in (400, 413)
    assert response.is_json


def test_huge_array_of_non_medication_drafts_is_answered(client):
    body = load_json(NO_PREFETCH)
    body["context"]["draftOrders"]["entry"] += [{"resource": {"resourceType": "ServiceRequest", "id": f"s{i}"}}
                                                for i in range(20000)]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{SANDBOX_R4}/MedicationRequest", json=EMPTY_SEARCH)
        mock_other_searches(mock)
        response = post_hook(client, body)
    assert response.status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=15), inner, max_size=5),
    max_leaves=25)
hook_bodies = st.fixed_dictionaries(
    {"hook": st.sampled_from(["order-sign", "order-select", "medication-prescribe", "patient-view"]) | st.text(),
     "hookInstance": st.text() | st.integers(), "context": json_values | st.fixed_dictionaries(
         {"patientId": st.text(max_size=20), "userId": st.text(max_size=20),
          "draftOrders": json_values, "selections": json_values})},
    optional={"prefetch": st.dictionaries(st.text(max_size=10), json_values, max_size=4), "fhirServer": st.text(),
              "fhirAuthorization": json_values, "extension": json_values})


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                     HealthCheck.too_slow])
@given(body=hook_bodies | json_values)
def test_generated_hook_bodies_never_get_a_5xx(client, body):
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # no real network, whatever the body says
        response = client.post(HOOK_URL, json=body)
    assert response.status_code < 500, response.get_json()
    assert response.is_json
