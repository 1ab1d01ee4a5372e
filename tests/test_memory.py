"""What the prescriber already answered: a card overridden at order-select is not shown again at order-sign for
the same draft and finding; a snoozing reason silences its rule for the patient for its days; only keyed hashes
are stored; a store that cannot answer costs no card."""
from __future__ import annotations

import copy
import sqlite3
from datetime import timedelta

import pytest

from cds_service import create_app
from cds_service.cards import CardFileError
from cds_service.config import ConfigError, load_settings
from conftest import FIXTURE_NOW, ROOT, card_ids, load_json, post_hook

SECRET = "a-test-memory-secret-of-forty-characters"
CASE = "requests/naloxone-coprescribe/fires-opioid-with-current-alprazolam"
SIGN = "pain-medication-safety-order-sign"


class Clock:
    def __init__(self):
        self.now = FIXTURE_NOW

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def remembering(config, clock):
    app = create_app({**config, "MEMORY_SECRET": SECRET, "CLOCK": clock})
    yield app
    app.extensions["cds_store"].close()


def _card(response, rule_id):
    return next(c for c in response.get_json()["cards"] if c["source"]["topic"]["code"] == rule_id)


def _override(client, service, card, code=None):
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:01:00Z"}
    if code:
        item["overrideReason"] = {"reason": {"code": code, "system": "urn:pain-medication-safety:override-reason"}}
    answer = client.post(f"/cds-services/{service}/feedback", json={"feedback": [item]})
    assert answer.status_code == 200, answer.get_json()


def test_a_card_overridden_at_select_is_not_repeated_at_sign(remembering):
    client = remembering.test_client()
    select = post_hook(client, load_json(f"{CASE}.order-select.r4.json"))
    assert card_ids(select) == ["naloxone-coprescribe", "opioid-benzodiazepine"]
    _override(client, "pain-medication-safety-order-select", _card(select, "opioid-benzodiazepine"),
              "benefit-outweighs-risk")
    sign = post_hook(client, load_json(f"{CASE}.order-sign.r4.json"))
    assert card_ids(sign) == ["naloxone-coprescribe"]  # the card not answered is still shown
    figures = remembering.extensions["cds_store"].rule_summary()
    assert figures["opioid-benzodiazepine"]["suppressed"] == 1
    assert figures["opioid-benzodiazepine"]["shown"] == 1


def test_another_draft_or_a_later_session_gets_the_card_again(remembering, clock):
    client = remembering.test_client()
    select = post_hook(client, load_json(f"{CASE}.order-select.r4.json"))
    _override(client, "pain-medication-safety-order-select", _card(select, "opioid-benzodiazepine"))
    other = load_json(f"{CASE}.order-sign.r4.json")
    other["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "a-new-draft"  # another order: another finding
    assert "opioid-benzodiazepine" in card_ids(post_hook(client, other))
    clock.now = FIXTURE_NOW + timedelta(hours=13)  # past the session (12 hours)
    assert "opioid-benzodiazepine" in card_ids(post_hook(client, load_json(f"{CASE}.order-sign.r4.json")))


def test_an_accepted_card_or_a_reason_without_snooze_does_not_silence_the_rule(remembering):
    client = remembering.test_client()
    sign = post_hook(client, load_json(f"{CASE}.order-sign.r4.json"))
    card = _card(sign, "naloxone-coprescribe")
    answer = client.post(f"/cds-services/{SIGN}/feedback", json={"feedback": [
        {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-11-22T15:01:00Z",
         "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}]})
    assert answer.status_code == 200
    assert "naloxone-coprescribe" in card_ids(post_hook(client, load_json(f"{CASE}.order-sign.r4.json")))


def test_a_snoozing_reason_silences_the_rule_for_the_patient_for_its_days(remembering, clock):
    client = remembering.test_client()
    sign = post_hook(client, load_json(f"{CASE}.order-sign.r4.json"))
    _override(client, SIGN, _card(sign, "naloxone-coprescribe"), "patient-declined")  # snooze_days: 90
    later = load_json(f"{CASE}.order-sign.r4.json")
    later["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "next-month-renewal"
    clock.now = FIXTURE_NOW + timedelta(days=30)
    assert card_ids(post_hook(client, later)) == ["opioid-benzodiazepine"]
    clock.now = FIXTURE_NOW + timedelta(days=91)
    assert "naloxone-coprescribe" in card_ids(post_hook(client, later))
    other_patient = copy.deepcopy(later)  # the snooze is the patient's own
    other_patient["context"]["patientId"] = "someone-else"
    other_patient["prefetch"]["patient"]["id"] = "someone-else"
    clock.now = FIXTURE_NOW + timedelta(days=30)
    for key in ("medicationRequests", "medicationStatements", "medicationDispenses", "conditions"):
        for entry in other_patient["prefetch"][key].get("entry", []):
            if "subject" in entry["resource"]:
                entry["resource"]["subject"]["reference"] = "Patient/someone-else"
    for entry in other_patient["context"]["draftOrders"]["entry"]:
        entry["resource"]["subject"]["reference"] = "Patient/someone-else"
    assert "naloxone-coprescribe" in card_ids(post_hook(client, other_patient))


def test_no_patient_identifier_is_stored(config, clock, tmp_path):
    app = create_app({**config, "MEMORY_SECRET": SECRET, "CLOCK": clock})
    client = app.test_client()
    body = load_json(f"{CASE}.order-select.r4.json")
    select = post_hook(client, body)
    _override(client, "pain-medication-safety-order-select", _card(select, "naloxone-coprescribe"), "patient-declined")
    app.extensions["cds_store"].close()
    database = sqlite3.connect(config["DATABASE"])
    dump = "\n".join(database.iterdump())
    assert body["context"]["patientId"] not in dump
    # The keyed hashes are there instead: the session key and the 90-day snooze key of the naloxone card.
    assert database.execute("SELECT count(*) FROM suppressions").fetchone()[0] == 2


def test_without_a_secret_nothing_is_remembered(app):
    client = app.test_client()
    select = post_hook(client, load_json(f"{CASE}.order-select.r4.json"))
    _override(client, "pain-medication-safety-order-select", _card(select, "opioid-benzodiazepine"))
    assert "opioid-benzodiazepine" in card_ids(post_hook(client, load_json(f"{CASE}.order-sign.r4.json")))


def test_a_store_that_cannot_answer_costs_no_card(remembering, monkeypatch):
    client = remembering.test_client()
    select = post_hook(client, load_json(f"{CASE}.order-select.r4.json"))
    _override(client, "pain-medication-safety-order-select", _card(select, "opioid-benzodiazepine"))

    def down(*_args):
        raise OSError("database unavailable")

    monkeypatch.setattr(remembering.extensions["cds_store"], "live_suppressions", down)
    assert card_ids(post_hook(client, load_json(f"{CASE}.order-sign.r4.json"))) == [
        "naloxone-coprescribe", "opioid-benzodiazepine"]


def test_a_short_secret_is_refused():
    with pytest.raises(ConfigError, match="CDS_MEMORY_SECRET: at least 32"):
        load_settings({"MEMORY_SECRET": "short"})


def test_a_critical_card_cannot_offer_a_snooze(config, tmp_path):
    import shutil

    cards = tmp_path / "cards"
    shutil.copytree(ROOT / "cards", cards)
    path = cards / "fentanyl-patch-opioid-naive.yaml"
    path.write_text(path.read_text().replace('    display: "Palliative or end-of-life care"\n',
                                             '    display: "Palliative or end-of-life care"\n    snooze_days: 90\n'))
    with pytest.raises(CardFileError, match="critical card's override reason cannot snooze"):
        create_app({**config, "CARDS_DIR": str(cards)})


def test_only_the_cards_own_snoozing_reason_snoozes(remembering, clock):
    """A reason another card offers (the naloxone card's patient-declined) sent for the benzodiazepine card
    silences that card for the session only, never the rule for 90 days."""
    client = remembering.test_client()
    sign = post_hook(client, load_json(f"{CASE}.order-sign.r4.json"))
    _override(client, SIGN, _card(sign, "opioid-benzodiazepine"), "patient-declined")
    later = load_json(f"{CASE}.order-sign.r4.json")
    later["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "next-week-renewal"
    clock.now = FIXTURE_NOW + timedelta(days=7)
    assert "opioid-benzodiazepine" in card_ids(post_hook(client, later))


def test_a_critical_card_never_snoozes(remembering, clock):
    client = remembering.test_client()
    body = load_json("requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json")
    card = post_hook(client, body).get_json()["cards"][0]
    assert card["indicator"] == "critical"
    _override(client, SIGN, card, "patient-declined")
    body["context"]["draftOrders"]["entry"][0]["resource"]["id"] = "another-patch-order"
    clock.now = FIXTURE_NOW + timedelta(days=1)
    assert card_ids(post_hook(client, body)) == ["fentanyl-patch-opioid-naive"]


def test_the_same_draft_with_another_dose_is_another_finding(remembering):
    client = remembering.test_client()
    select = post_hook(client, load_json(f"{CASE}.order-select.r4.json"))
    _override(client, "pain-medication-safety-order-select", _card(select, "opioid-benzodiazepine"))
    sign = load_json(f"{CASE}.order-sign.r4.json")
    dose = sign["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]
    dose["doseAndRate"][0]["doseQuantity"]["value"] = 2  # the prescriber doubled the dose between select and sign
    assert "opioid-benzodiazepine" in card_ids(post_hook(client, sign))


def test_governance_shows_a_shared_reason_code_in_the_words_of_the_rules_own_card(app):
    """benefit-outweighs-risk is offered by the benzodiazepine and the serotonin cards in different words; the
    committee reads the words the overridden card offered."""
    client = app.test_client()
    sign = post_hook(client, load_json(f"{CASE}.order-sign.r4.json"))
    _override(client, SIGN, _card(sign, "opioid-benzodiazepine"), "benefit-outweighs-risk")
    catalog = app.extensions["cds_engine"].catalog
    summary = app.extensions["cds_store"].rule_summary(catalog.reason_display)
    assert list(summary["opioid-benzodiazepine"]["reasons"]) == [
        catalog.reason_display("opioid-benzodiazepine", "benefit-outweighs-risk")]
    assert "serotonin" not in next(iter(summary["opioid-benzodiazepine"]["reasons"]))


def test_the_keys_of_old_cards_are_pruned(remembering, clock):
    client = remembering.test_client()
    old = post_hook(client, load_json(f"{CASE}.order-select.r4.json"))
    clock.now = FIXTURE_NOW + timedelta(days=2)
    new = post_hook(client, load_json(f"{CASE}.order-sign.r4.json"))
    _override(client, SIGN, _card(new, "opioid-benzodiazepine"))
    store = remembering.extensions["cds_store"]
    from cds_service.store import card_memory
    with store.engine.connect() as conn:
        kept = {row[0] for row in conn.execute(card_memory.select().with_only_columns(card_memory.c.card_uuid))}
    assert {c["uuid"] for c in new.get_json()["cards"]} <= kept
    assert not kept & {c["uuid"] for c in old.get_json()["cards"]}
