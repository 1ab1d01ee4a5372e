"""Hostile hook bodies: whatever the schema lets through gets an answer or a clear 4xx, never a 5xx, and no
body can buy unbounded work."""
from __future__ import annotations

import copy

import pytest

from conftest import SERVICE_FOR_HOOK, load_json

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
