"""The issue's order set, as a prescriber meets it: a naive fentanyl patch, a stable 60 MME/day renewal and tramadol
with two SSRIs get the fewest cards that still carry every risk; an override at order-select is not repeated at
order-sign (tests/test_memory.py has the rest of that)."""
from __future__ import annotations

from cds_service import create_app
from conftest import card_ids, folded_ids, load_json, post_hook, rule_ids

PATCH = "requests/fentanyl-patch-opioid-naive/fires-no-opioid-history"
RENEWAL = "requests/high-mme/silent-stable-60-mme-renewal.order-sign.r4.json"
TRAMADOL = "requests/tramadol-serotonergic/fires-tramadol-with-two-ssri-drafts.order-sign.r4.json"


def test_naive_patch_is_one_critical_card_carrying_the_other_risks(client):
    response = post_hook(client, load_json(f"{PATCH}.order-sign.r4.json"))
    assert card_ids(response) == ["fentanyl-patch-opioid-naive"]
    assert folded_ids(response) == {"fentanyl-patch-opioid-naive": [
        "high-mme", "naloxone-coprescribe", "opioid-bowel-regimen", "opioid-risk-screening"]}


def test_stable_renewal_with_precautions_in_place_gets_no_card(client, config):
    body = load_json(RENEWAL)
    assert card_ids(post_hook(client, body)) == []
    body["prefetch"]["medicationDispenses"]["entry"] = []  # without the naloxone kit: that risk, alone
    assert card_ids(post_hook(client, body)) == ["naloxone-coprescribe"]
    renewals = create_app({**config, "RULE_PARAMS": {"high-mme": {"on_renewal": True}}}).test_client()
    assert "high-mme" in card_ids(post_hook(renewals, load_json(RENEWAL)))  # a site that wants renewal cards


def test_tramadol_with_two_ssris_is_one_serotonin_card_naming_both(client):
    response = post_hook(client, load_json(TRAMADOL))
    assert rule_ids(response) == ["tramadol-serotonergic", "duplicate-therapy", "opioid-bowel-regimen"]
    serotonin = response.get_json()["cards"][0]
    assert "sertraline" in serotonin["detail"] and "FLUoxetine" in serotonin["detail"]
    removals = [a["resourceId"] for s in serotonin["suggestions"] for a in s["actions"]]
    assert len(removals) == len(set(removals)) == 3  # each draft offered for removal once
