"""Card files are checked at start, suggestions are applicable FHIR of the client's version, and rules can be
configured without code changes."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.cards import CardFileError, Shown, order_cards
from conftest import FIXTURES, ROOT, load_json, post_hook, rule_ids

FENTANYL_NAIVE = "requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json"


@pytest.fixture
def cards(tmp_path) -> Path:
    """A copy of cards/ a test may break."""
    copy = tmp_path / "cards"
    shutil.copytree(ROOT / "cards", copy)
    return copy


def test_missing_card_file_stops_the_start(cards, config):
    (cards / "naltrexone-opioid.yaml").unlink()
    with pytest.raises(CardFileError, match="naltrexone-opioid"):
        create_app({**config, "CARDS_DIR": str(cards)})


def test_card_placeholder_the_rule_does_not_provide_stops_the_start(cards, config):
    path = cards / "tramadol-serotonergic.yaml"
    path.write_text(path.read_text().replace("{opioid_name} with", "{opioid_nmae} with", 1))
    with pytest.raises(CardFileError, match="opioid_nmae"):
        create_app({**config, "CARDS_DIR": str(cards)})


def test_card_file_with_a_bad_indicator_stops_the_start(cards, config):
    path = cards / "fentanyl-patch-opioid-naive.yaml"
    path.write_text(path.read_text().replace("indicator: critical", "indicator: urgent", 1))
    with pytest.raises(CardFileError):
        create_app({**config, "CARDS_DIR": str(cards)})


@pytest.mark.parametrize("path", sorted((FIXTURES / "requests").glob("*/fires-*.json")), ids=lambda p: p.name)
def test_firing_cards_name_the_draft_and_stay_short(client, path):
    body = json.loads(path.read_text())
    cards = post_hook(client, body).get_json()["cards"]
    assert cards
    for card in cards:
        assert len(card["summary"]) <= 139
        assert "{" not in card["summary"] and "{" not in card["detail"]  # every placeholder was filled
        drafts = body["context"].get("medications") or [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
        names = [n for d in drafts for c in [d.get("medicationCodeableConcept") or {}]
                 for n in [c.get("text"), *(x.get("display") for x in c.get("coding", []))] if n]
        # The draft by its drug's name, as prescribers read it (a draft sent with a code alone: the table's name).
        assert any(f"**{n}**" in card["detail"] for n in names) if names else card["detail"].startswith("**")
        assert not any(f"{d['resourceType']}/{d['id']}" in card["detail"] for d in drafts)  # ids only in suggestions


def _fentanyl_create(client, relative):
    card = post_hook(client, load_json(relative)).get_json()["cards"][0]
    return card["suggestions"][0]["actions"]


def test_created_order_is_valid_r4(client):
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    delete, create = _fentanyl_create(client, FENTANYL_NAIVE)
    assert delete == {"type": "delete", "description": delete["description"],
                      "resourceId": "MedicationRequest/draft-fentanyl-25"}
    resource = MedicationRequest.model_validate(create["resource"])
    assert resource.subject.reference == "Patient/pt-fent-1"
    assert resource.medicationCodeableConcept.coding[0].code == "1049621"


def test_created_order_is_valid_stu3_for_an_stu3_client(client):
    from fhir.resources.STU3.medicationrequest import MedicationRequest

    body = load_json(FENTANYL_NAIVE)
    for entry in body["context"]["draftOrders"]["entry"]:  # the draft as an STU3 EHR writes it
        r = entry["resource"]
        r["category"] = r["category"][0]
        for d in r["dosageInstruction"]:
            d["doseQuantity"] = d.pop("doseAndRate")[0]["doseQuantity"]
    card = post_hook(client, body).get_json()["cards"][0]
    resource = MedicationRequest.model_validate(card["suggestions"][0]["actions"][1]["resource"])
    assert resource.dosageInstruction[0].doseQuantity.value == 1


def test_created_order_is_a_dstu2_medication_order_for_a_dstu2_client(client):
    actions = _fentanyl_create(client, FENTANYL_NAIVE.replace("order-sign.r4", "medication-prescribe.dstu2"))
    resource = actions[1]["resource"]
    assert resource["resourceType"] == "MedicationOrder"
    assert resource["patient"] == {"reference": "Patient/pt-fent-1"} and "subject" not in resource
    assert "intent" not in resource and resource["dateWritten"] == "2026-11-22"
    dosage = resource["dosageInstruction"][0]
    assert dosage["doseQuantity"]["value"] == 1 and dosage["timing"]["repeat"]["periodUnits"] == "h"


def test_a_rule_can_be_switched_off(config):
    client = create_app({**config, "RULES_DISABLED": ["fentanyl-patch-opioid-naive"]}).test_client()
    fired = rule_ids(post_hook(client, load_json(FENTANYL_NAIVE)))
    assert "fentanyl-patch-opioid-naive" not in fired and "high-mme" in fired


def test_switching_off_an_unknown_rule_stops_the_start(config):
    with pytest.raises(ValueError, match="no-such-rule"):  # a ConfigError
        create_app({**config, "RULES_DISABLED": ["no-such-rule"]})


def test_indicator_can_be_changed_by_configuration(config, monkeypatch):
    monkeypatch.setenv("CDS_RULE_INDICATORS", '{"fentanyl-patch-opioid-naive": "warning"}')
    client = create_app(config).test_client()
    assert post_hook(client, load_json(FENTANYL_NAIVE)).get_json()["cards"][0]["indicator"] == "warning"


def test_rule_threshold_can_be_changed_by_configuration(config):
    relative = "requests/naltrexone-opioid/fires-ldn-draft-with-current-oxycodone.order-sign.r4.json"
    default = post_hook(create_app(config).test_client(), load_json(relative)).get_json()["cards"][0]
    changed = post_hook(create_app({**config, "RULE_PARAMS": {"naltrexone-opioid": {"low_dose_max_mg_per_day": 4}}})
                        .test_client(), load_json(relative)).get_json()["cards"][0]
    assert "low-dose naltrexone" in default["detail"]
    assert "full blocking dose" in changed["detail"]


def test_cap_drops_info_first_and_never_a_critical():
    cards = [Shown({"indicator": i, "n": n}, "r") for n, i in enumerate(["info", "critical", "warning", "info", "critical"])]
    assert [s.card["n"] for s in order_cards(cards, 3)] == [1, 4, 2]
    assert [s.card["n"] for s in order_cards(cards, 1)] == [1, 4]


def test_bad_environment_setting_stops_the_start(config, monkeypatch):
    monkeypatch.setenv("CDS_MAX_CARDS", "ten")
    with pytest.raises(ValueError, match="CDS_MAX_CARDS"):
        create_app(config)


def test_evaluate_command_prints_the_cards(tmp_path):
    request = FIXTURES / FENTANYL_NAIVE
    result = subprocess.run([sys.executable, "-m", "cds_service.cli", "evaluate", str(request), "--now", "2026-11-22"],
                            capture_output=True, text=True, cwd=tmp_path, env={"CDS_DATABASE": str(tmp_path / "e.db"),
                                                                                "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    cards = json.loads(result.stdout)["cards"]
    assert cards[0]["source"]["topic"]["code"] == "fentanyl-patch-opioid-naive"


def test_card_file_schema_is_a_valid_json_schema():
    from cds_service.cards import _SCHEMA, _VALIDATOR

    _VALIDATOR.check_schema(_SCHEMA)
