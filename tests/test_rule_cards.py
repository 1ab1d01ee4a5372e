"""What the prescriber reads: each rule's card states the numbers that triggered it and the right urgency."""
from __future__ import annotations

from conftest import load_json, post_hook


def card_for(client, relative: str, rule_id: str | None = None) -> dict:
    """The one card of the rule (by default the rule the fixture directory is named after)."""
    rule_id = rule_id or relative.split("/")[0]
    cards = post_hook(client, load_json(f"requests/{relative}")).get_json()["cards"]
    mine = [c for c in cards if c["source"]["topic"]["code"] == rule_id]
    assert len(mine) == 1, [c["source"]["topic"]["code"] for c in cards]
    return mine[0]


def test_fentanyl_card_shows_patch_mme_and_why_not_tolerant(client):
    card = card_for(client, "fentanyl-patch-opioid-naive/fires-code-only-patch-on-low-dose-hydrocodone.order-sign.r4.json")
    assert card["indicator"] == "critical"
    assert "75 mcg/h" in card["detail"] and "**180 MME/day**" in card["detail"]
    assert "reaches **33%**" in card["detail"]
    assert "hydrocodone bitartrate 5 MG Oral Tablet (current, prescribed from 2026-10-01): 20 mg/day" in card["detail"]


def test_fentanyl_card_explains_a_too_short_history(client):
    card = card_for(client, "fentanyl-patch-opioid-naive/fires-three-days-of-oxycodone.order-select.r4.json")
    assert "only **3 days**" in card["detail"]
    assert "40 mg/day, 133% of the tolerance threshold of 30 mg/day" in card["detail"]


def test_fentanyl_card_with_no_opioid(client):
    card = card_for(client, "fentanyl-patch-opioid-naive/fires-no-opioid-history.medication-prescribe.dstu2.json")
    assert "**no current opioid**" in card["detail"]


def test_naltrexone_card_recognises_low_dose_naltrexone(client):
    card = card_for(client, "naltrexone-opioid/fires-ldn-draft-with-current-oxycodone.order-sign.r4.json")
    assert card["indicator"] == "critical"
    assert "4.5 mg/day, **low-dose naltrexone**" in card["detail"]
    assert "7-10 opioid-free days" in card["detail"]
    assert [a["resourceId"] for s in card["suggestions"] for a in s["actions"]] == ["MedicationRequest/draft-ldn"]


def test_opioid_draft_while_on_naltrexone_names_the_full_dose(client):
    card = card_for(client, "naltrexone-opioid/fires-tramadol-draft-while-on-naltrexone.order-sign.r4.json")
    assert card["summary"].startswith("Opioid ordered while the patient takes naltrexone")
    assert "50 mg/day, a **full blocking dose**" in card["detail"]


def test_two_drafts_in_one_finding_offer_to_remove_either(client):
    card = card_for(client, "naltrexone-opioid/fires-naltrexone-and-morphine-drafted-together.order-sign.r4.json")
    removed = [a["resourceId"] for s in card["suggestions"] for a in s["actions"]]
    assert removed == ["MedicationRequest/draft-naltrexone", "MedicationRequest/draft-morphine"]


def test_tramadol_with_an_snri_is_a_warning(client):
    card = card_for(client, "tramadol-serotonergic/fires-tramadol-draft-with-duloxetine.order-sign.r4.json")
    assert card["indicator"] == "warning"
    assert card["summary"] == "Tramadol with an SNRI: risk of serotonin syndrome"
    assert "duloxetine 60 MG Delayed Release Oral Capsule" in card["detail"]


def test_ssri_draft_while_on_tramadol_reports_on_the_ssri(client):
    card = card_for(client, "tramadol-serotonergic/fires-sertraline-draft-while-on-tramadol.order-select.r4.json")
    assert card["summary"] == "Tramadol with an SSRI: risk of serotonin syndrome"
    assert card["detail"].startswith("**sertraline 50 MG Oral Tablet** is being ordered")
    assert "MedicationRequest/" not in card["detail"]  # the drug by name; ids only in suggestions
    assert [a["resourceId"] for s in card["suggestions"] for a in s["actions"]] == ["MedicationRequest/draft-sertraline"]


def test_recent_maoi_makes_it_critical(client):
    card = card_for(client, "tramadol-serotonergic/fires-critical-phenelzine-stopped-10-days-ago.order-sign.r4.json")
    assert card["indicator"] == "critical"
    assert "MAO inhibitor" in card["summary"]
    assert "to 2026-11-12" in card["detail"]
    assert "contraindicated" in card["detail"]
