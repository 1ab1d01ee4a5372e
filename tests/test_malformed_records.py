"""Malformed data never makes the service fail: a broken history record is read leniently (200), a broken
draft is refused with a 400 naming the problem; never a 5xx."""
from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_json, post_hook

BASE = load_json("requests/fentanyl-patch-opioid-naive/silent-renewal-of-current-patch.order-sign.r4.json")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
# Paths into a medication record where EHR data goes wrong in practice.
RECORD_PATHS = [
    ("status",), ("authoredOn",), ("medicationCodeableConcept",), ("medicationCodeableConcept", "coding"),
    ("medicationCodeableConcept", "coding", 0, "code"), ("dosageInstruction",), ("dosageInstruction", 0),
    ("dosageInstruction", 0, "timing"), ("dosageInstruction", 0, "timing", "repeat"),
    ("dosageInstruction", 0, "timing", "repeat", "frequency"), ("dosageInstruction", 0, "timing", "repeat", "period"),
    ("dosageInstruction", 0, "timing", "repeat", "periodUnit"), ("dosageInstruction", 0, "doseAndRate"),
    ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity"), ("dosageInstruction", 0, "doseAndRate", 0, "doseQuantity", "value"),
    ("dispenseRequest",), ("priorPrescription",), ("whenHandedOver",), ("daysSupply",), ("contained",),
    ("medicationReference",),
]


def _set(target, path, value) -> bool:
    for key in path[:-1]:
        if isinstance(target, dict) and key in target:
            target = target[key]
        elif isinstance(target, list) and isinstance(key, int) and key < len(target):
            target = target[key]
        else:
            return False
    if isinstance(target, dict):
        target[path[-1]] = value
        return True
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["medicationRequests", "medicationDispenses"]), path=st.sampled_from(RECORD_PATHS),
       value=json_values)
def test_malformed_history_record_never_fails_the_call(client, key, path, value):
    body = copy.deepcopy(BASE)
    _set(body["prefetch"][key]["entry"][0]["resource"], path, value)
    response = post_hook(client, body)
    assert response.status_code == 200, response.get_json()
    assert isinstance(response.get_json()["cards"], list)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(RECORD_PATHS), value=json_values)
def test_malformed_draft_is_a_clear_400_or_read(client, path, value):
    body = copy.deepcopy(BASE)
    _set(body["context"]["draftOrders"]["entry"][0]["resource"], path, value)
    response = post_hook(client, body)
    assert response.status_code in (200, 400), response.get_json()
    if response.status_code == 400:
        assert response.get_json()["field"].startswith(("context.draftOrders", "context.selections"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["patient", "medicationRequests", "conditions", "ownKey"]), value=json_values)
def test_any_prefetch_value_is_200_or_a_clear_4xx(client, key, value):
    body = copy.deepcopy(BASE)
    body["prefetch"][key] = value
    response = post_hook(client, body)
    assert response.status_code in (200, 400, 412), response.get_json()
    assert response.is_json


R4_QUIRKS = [("category",), ("dosage",), ("medication",), ("dosageInstruction", 0, "doseQuantity"),
             ("dosageInstruction", 0, "quantityQuantity"), ("dosageInstruction", 0, "timing", "repeat", "periodUnits"),
             ("dosageInstruction", 0, "timing", "repeat", "when")]


@settings(max_examples=600, deadline=None)
@given(path=st.sampled_from(RECORD_PATHS + R4_QUIRKS), value=json_values)
def test_a_record_read_as_it_is_reads_as_the_full_rewrite_would(path, value):
    """R4 MedicationRequests that need no rewriting are read without a copy; any record that does (a loose
    doseQuantity, a single category, DSTU2 periodUnits, an R5 medication) goes through the rewrite."""
    from cds_service.fhir.versions import _rewrite, to_r4

    record = copy.deepcopy(BASE["prefetch"]["medicationRequests"]["entry"][0]["resource"])
    _set(record, path, value)
    assert to_r4(record) == _rewrite(record, "MedicationRequest")
