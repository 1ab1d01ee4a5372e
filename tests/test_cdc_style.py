"""Requests in the shape the CDC opioid CDS test suite publishes them (cqframework/opioid-cds-r4, described in
EHR-PROFILES.md): patientId and encounterId as references, prefetch under the suite's own keys item1..item10
(mostly null), item* keys left beside prefetch, and records dated 2023 with the dataDateRoller extension that
moves them to today. Written by the team in that shape (fhir_fixtures/cdc_style/)."""
from __future__ import annotations

import copy

import pytest

from conftest import load_json, post_hook, rule_ids
from cds_service.hooks.cdc_suite import DATE_ROLLER, roll_request

FENTANYL = "fentanyl-patch-opioid-naive"
CASES = {
    "fires-patch-no-opioid-history.json": True,
    "silent-patch-after-rolled-morphine-fill.json": False,
    "silent-patch-history-left-beside-prefetch.json": False,
}


@pytest.mark.parametrize("name,fires", CASES.items())
def test_cdc_shaped_requests_are_read_not_refused(client, name, fires):
    response = post_hook(client, load_json(f"cdc_style/{name}"))
    assert (FENTANYL in rule_ids(response)) is fires


def test_without_the_roll_the_fill_would_be_three_years_old_and_the_patient_naive(client):
    """The morphine fill counts only because its dates move forward: dropping the extension shows it."""
    body = load_json("cdc_style/silent-patch-after-rolled-morphine-fill.json")
    for entry in body["prefetch"]["item3"]["entry"]:
        entry["resource"].pop("extension")
    assert FENTANYL in rule_ids(post_hook(client, body))


def test_the_roll_moves_every_date_birth_dates_included_and_leaves_other_requests_alone():
    from datetime import date

    body = load_json("cdc_style/silent-patch-after-rolled-morphine-fill.json")
    rolled = roll_request(copy.deepcopy(body), date(2026, 11, 22))
    fill = rolled["prefetch"]["item3"]["entry"][0]["resource"]
    draft = rolled["context"]["draftOrders"]["entry"][0]["resource"]
    assert fill["whenHandedOver"] == "2026-11-11"  # 2023-04-20 + (2026-11-22 - 2023-05-01)
    assert draft["authoredOn"] == "2026-11-22"
    assert draft["dispenseRequest"]["validityPeriod"]["start"] == "2026-11-22T00:00:00-06:00"
    assert rolled["prefetch"]["item1"]["birthDate"] == "1978-08-27"  # 1975-02-03, the patient's age kept
    assert fill["extension"][0]["url"] == DATE_ROLLER
    plain = load_json("sandbox/order-select-r4-tramadol-own-prefetch-keys.json")  # as the sandbox sends: unmarked
    assert roll_request(plain, date(2026, 11, 22)) is plain
