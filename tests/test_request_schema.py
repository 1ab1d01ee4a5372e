"""The compiled schema check (fastjsonschema) that clears valid bodies must agree with jsonschema, which
names the problem of a refused body: a body one accepts and the other refuses would be a wrong 200 or 400."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.api.errors import load_validator
from conftest import FIXTURES, load_json

HOOK = load_validator("hook-request.schema.json")
FEEDBACK = load_validator("feedback.schema.json")
REQUESTS = sorted(str(p.relative_to(FIXTURES)) for p in (FIXTURES / "requests").rglob("*.json"))
BASES = [load_json(name) for name in (
    "requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.order-sign.r4.json",
    "requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.order-select.r4.json",
    "requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.medication-prescribe.dstu2.json")]
DRAFT = ("context", "draftOrders", "entry", 0, "resource")
# Where a request goes wrong in practice, and where the schema has something to say.
HOOK_PATHS = [
    ("hook",), ("hookInstance",), ("fhirServer",), ("fhirAuthorization",), ("fhirAuthorization", "token_type"),
    ("fhirAuthorization", "access_token"), ("fhirAuthorization", "expires_in"), ("context",),
    ("context", "patientId"), ("context", "userId"), ("context", "encounterId"), ("context", "selections"),
    ("context", "selections", 0), ("context", "draftOrders"), ("context", "draftOrders", "resourceType"),
    ("context", "draftOrders", "entry"), ("context", "draftOrders", "entry", 0), DRAFT, (*DRAFT, "resourceType"),
    (*DRAFT, "id"), ("context", "medications"), ("context", "medications", "entry", 0, "resource", "resourceType"),
    ("prefetch",), ("prefetch", "patient"), ("prefetch", "patient", "resourceType"), ("prefetch", "medicationRequests"),
    ("prefetch", "extra"), ("extension",),
]
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
    | st.sampled_from(["", "Bearer", "bearer", "Basic", "Patient/1", "MedicationRequest/x", "Bundle", "Patient",
                       "patient", "https://ehr.example.org/fhir", "ftp://x", "a b", "order-select", "order-sign",
                       "medication-prescribe", "x" * 300]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
        ["resourceType", "id", "entry", "resource", "access_token", "token_type"]) | st.text(max_size=6), inner,
        max_size=3), max_leaves=8)


def _agree(validator, body) -> None:
    try:
        validator.compiled(body)
        compiled = True
    except Exception:  # noqa: BLE001  the same test the service makes
        compiled = False
    assert compiled == validator.full.is_valid(body), body


def _change(body: dict, path: tuple, value, remove: bool) -> None:
    target = body
    for key in path[:-1]:
        if isinstance(target, dict) and key in target or isinstance(target, list) and isinstance(key, int) and key < len(target):
            target = target[key]
        else:
            return
    if isinstance(target, dict):
        if remove:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value


@pytest.mark.parametrize("name", REQUESTS)
def test_every_fixture_request_passes_both_checks(name):
    body = load_json(name)
    HOOK.compiled(body)
    assert HOOK.full.is_valid(body)


@settings(max_examples=1500, deadline=None)
@given(base=st.sampled_from(BASES), changes=st.lists(st.tuples(st.sampled_from(HOOK_PATHS), values, st.booleans()),
                                                     min_size=1, max_size=3))
def test_compiled_and_full_hook_request_checks_agree(base, changes):
    body = copy.deepcopy(base)
    for path, value, remove in changes:
        _change(body, path, value, remove)
    _agree(HOOK, body)


@settings(max_examples=800, deadline=None)
@given(body=st.fixed_dictionaries({"feedback": st.lists(st.fixed_dictionaries(
    {"card": values, "outcome": st.sampled_from(["accepted", "overridden", "x"]),
     "outcomeTimestamp": st.sampled_from(["2026-11-22T10:00:00Z", "2026-11-22T10:00+01:00", "2026-11-22", ""])},
    optional={"acceptedSuggestions": values, "overrideReason": values}), max_size=3)}) | values)
def test_compiled_and_full_feedback_checks_agree(body):
    _agree(FEEDBACK, body)
