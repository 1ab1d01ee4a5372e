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
        "high-mme", "naloxone-coprescribe", "opioid-bowel-regimen", "opioid-risk-screening",
        "urine-drug-test-due"]}


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


def _with_alprazolam_draft(body: dict) -> dict:
    benzo = load_json("requests/opioid-benzodiazepine/fires-oxycodone-tramadol-and-alprazolam-drafted-together"
                      ".order-sign.r4.json")["context"]["draftOrders"]["entry"][2]["resource"]
    benzo["subject"] = body["context"]["draftOrders"]["entry"][0]["resource"]["subject"]
    body["context"]["draftOrders"]["entry"].append({"resource": benzo})
    return body


def test_a_finding_about_another_draft_is_not_folded_into_the_critical_card(client):
    """A benzodiazepine drafted beside the patch keeps its own card (and its removal), whichever comes first."""
    for first in (True, False):
        body = _with_alprazolam_draft(load_json(f"{PATCH}.order-sign.r4.json"))
        if not first:
            body["context"]["draftOrders"]["entry"].reverse()
        response = post_hook(client, body)
        assert "opioid-benzodiazepine" in card_ids(response), first
        benzo = next(c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == "opioid-benzodiazepine")
        assert any("alprazolam" in s["label"].lower() for s in benzo["suggestions"])


def test_two_drafts_with_one_id_are_refused(client):
    body = _with_alprazolam_draft(load_json(f"{PATCH}.order-sign.r4.json"))
    entries = body["context"]["draftOrders"]["entry"]
    entries[1]["resource"]["id"] = entries[0]["resource"]["id"]
    response = post_hook(client, body)
    assert response.status_code == 400
    assert response.get_json()["field"] == "context.draftOrders" and "share the id" in response.get_json()["message"]
