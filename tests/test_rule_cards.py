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


def test_breakthrough_range_is_in_whole_tablets_of_the_drafted_strength(client):
    """Never "0.4-0.6 tablets": whole tablets in the range, or the nearest one and the share it is."""
    card = card_for(client, "breakthrough-dose/fires-dose-25-percent-of-scheduled.order-sign.r4.json")
    text = " ".join(card["detail"].split())
    assert "**2-3 mg** of this drug; no whole tablet of 5 mg falls in this range: 1 tablet (5 mg) is 25%" in text
    card = card_for(client, "breakthrough-dose/fires-up-to-eight-doses-a-day.order-sign.r4.json")
    assert "**8-12 mg** of this drug, 1 tablet of 10 mg." in " ".join(card["detail"].split())


def test_max_dose_offers_the_drafted_product_at_the_most_whole_tablets_within_the_maximum(client):
    card = card_for(client, "analgesic-max-dose/fires-tramadol-400-mg-at-82.order-sign.r4.json")
    delete, create = card["suggestions"][0]["actions"]
    assert delete["resourceId"] == "MedicationRequest/draft-tramadol"
    assert create["resource"]["medicationCodeableConcept"]["coding"][0]["code"] == "835603"  # the drafted product
    dose = create["resource"]["dosageInstruction"][0]
    assert dose["timing"]["repeat"]["frequency"] == 4 and dose["doseAndRate"][0]["doseQuantity"]["value"] == 1


def test_max_dose_offers_no_dose_it_cannot_write_with_certainty(client):
    """A schedule that is not a whole number of doses a day (every 5 hours): the card, no suggested dose."""
    body = load_json("requests/analgesic-max-dose/fires-gabapentin-4800-mg.order-sign.r4.json")
    timing = body["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]["timing"]
    timing["repeat"] = {"frequency": 1, "period": 4, "periodUnit": "h"}  # 6 a day: 7,200 mg/day, a whole number
    assert post_hook(client, body).get_json()["cards"][0].get("suggestions")
    timing["repeat"] = {"frequency": 1, "period": 5, "periodUnit": "h"}  # 4.8 a day
    card = post_hook(client, body).get_json()["cards"][0]
    assert card["source"]["topic"]["code"] == "analgesic-max-dose" and "suggestions" not in card
