"""The whole catalogue: every rule of docs/clinical-rules.md §2 is built, has its card file, fixtures that fire and
stay silent (the exclusion among them where the rule is excludable), and suggestions an EHR can apply."""
from __future__ import annotations

import json

import pytest

from cds_service import create_app
from cds_service.rules import RULES
from conftest import FIXTURES, ROOT, load_json, post_hook, rule_ids

# The catalogue is what the rule modules declare (cds_service/rules/<rule>.py, ``RULE``).
CATALOGUE = list(RULES)
# The first wave of docs/clinical-rules.md §2, in its order: the declarations must keep it.
FIRST_WAVE = [
    "fentanyl-patch-opioid-naive", "naltrexone-opioid", "tramadol-serotonergic", "er-la-opioid-naive", "high-mme",
    "naloxone-coprescribe", "opioid-benzodiazepine", "opioid-bowel-regimen", "neuropathic-opioid-not-first-line",
    "breakthrough-dose", "tca-ecg-screening", "methadone-initiation", "analgesic-max-dose", "duplicate-therapy",
    "opioid-risk-screening", "hiv-neuropathy-opioid", "cipn-agent-evidence", "opioid-rapid-taper",
    "pediatric-codeine-tramadol",
]
FIRING_R4 = sorted((FIXTURES / "requests").glob("*/fires-*.r4.json"))
FIRING_DSTU2 = sorted((FIXTURES / "requests").glob("*/fires-*.dstu2.json"))


def test_every_catalogue_rule_is_built_with_card_file_and_fixtures():
    assert CATALOGUE[:len(FIRST_WAVE)] == FIRST_WAVE
    card_files = {p.stem for p in (ROOT / "cards").glob("*.yaml") if not p.stem.startswith("_")}
    assert card_files == set(CATALOGUE)  # no card file without its rule, no rule without its card file
    assert {p.name for p in (FIXTURES / "scenarios").iterdir() if p.is_dir()} == set(CATALOGUE)
    for rule_id in CATALOGUE:
        assert (ROOT / "cards" / f"{rule_id}.yaml").exists(), rule_id
        scenarios = [p.stem for p in (FIXTURES / "scenarios" / rule_id).glob("*.json")]
        assert sum(s.startswith("fires-") for s in scenarios) >= 2, rule_id
        assert sum(s.startswith("silent-") for s in scenarios) >= 2, rule_id


@pytest.mark.parametrize("rule_id", CATALOGUE)
def test_excludable_rules_have_an_exclusion_fixture(rule_id):
    excluded = [p for p in (FIXTURES / "scenarios" / rule_id).glob("silent-excluded-*.json")]
    assert bool(excluded) is RULES[rule_id].excludable


@pytest.mark.parametrize("rule_id", CATALOGUE)
def test_every_rule_fires_through_the_api_in_order_select_and_order_sign(client, rule_id):
    for hook in ("order-select", "order-sign"):
        fired = [rule_ids(post_hook(client, json.loads(p.read_text())))
                 for p in (FIXTURES / "requests" / rule_id).glob(f"fires-*.{hook}.r4.json")]
        assert sum(rule_id in ids for ids in fired) >= 2, (rule_id, hook)


def _validate_r4(resource: dict) -> None:
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.servicerequest import ServiceRequest

    model = {"MedicationRequest": MedicationRequest, "ServiceRequest": ServiceRequest}[resource["resourceType"]]
    model.model_validate(resource)


@pytest.mark.parametrize("path", FIRING_R4, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_r4_suggestions_are_valid_and_applicable(client, path):
    body = json.loads(path.read_text())
    drafts = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body["context"]["draftOrders"]["entry"]}
    for card in post_hook(client, body).get_json()["cards"]:
        for suggestion in card.get("suggestions", []):
            assert card["selectionBehavior"] in ("at-most-one", "any")
            for action in suggestion["actions"]:
                if action["type"] == "delete":
                    assert action["resourceId"] in drafts  # it removes a draft of this request
                else:
                    assert action["type"] == "create"
                    _validate_r4(action["resource"])
                    assert action["resource"]["subject"] == {"reference": f"Patient/{body['context']['patientId']}"}


@pytest.mark.parametrize("path", FIRING_DSTU2, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dstu2_suggestions_are_written_in_dstu2(client, path):
    body = json.loads(path.read_text())
    for card in post_hook(client, body).get_json()["cards"]:
        for action in (a for s in card.get("suggestions", []) for a in s["actions"] if a["type"] == "create"):
            resource = action["resource"]
            assert resource["resourceType"] in ("MedicationOrder", "DiagnosticOrder")
            if resource["resourceType"] == "MedicationOrder":
                assert "patient" in resource and "subject" not in resource and "intent" not in resource
                assert all("doseAndRate" not in d for d in resource.get("dosageInstruction", []))
            else:  # an ECG (11524-6) or a urine drug screen (SNOMED CT 310627008)
                assert resource["subject"] and resource["item"][0]["code"]["coding"][0]["code"] in (
                    "11524-6", "310627008")


def test_card_cap_keeps_critical_and_drops_info_first(config):
    body = load_json("requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json")
    separate = {**config, "FOLD_INTO_CRITICAL": False}  # one card per finding, as a site may ask
    client = create_app({**separate, "MAX_CARDS": 2}).test_client()
    assert rule_ids(post_hook(client, body)) == ["fentanyl-patch-opioid-naive", "high-mme"]
    client = create_app({**separate, "MAX_CARDS": 0}).test_client()
    assert rule_ids(post_hook(client, body)) == ["fentanyl-patch-opioid-naive"]


def test_lesser_findings_about_a_critical_draft_are_lines_of_its_card(config):
    body = load_json("requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json")
    folded = post_hook(create_app(config).test_client(), body).get_json()["cards"]
    separate = post_hook(create_app({**config, "FOLD_INTO_CRITICAL": False}).test_client(), body).get_json()["cards"]
    assert len(folded) == 1 and len(separate) == 6
    detail = folded[0]["detail"]
    for card in separate[1:]:  # each lesser card's summary is a line of the critical card, its source cited
        assert f"- {card['summary']}" in detail
        assert card["source"]["label"] in detail.rpartition("**Sources:**")[2]
    assert [s["label"] for s in folded[0]["suggestions"]] == [s["label"] for s in separate[0]["suggestions"]]


def test_a_site_can_extend_a_code_list(config):
    body = load_json("requests/high-mme/fires-hydrocodone-added-to-tramadol-80-mme.order-sign.r4.json")
    body["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/pt-mme-1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "1234567", "display": "Local frailty code"}]}}}]}
    assert "high-mme" in rule_ids(post_hook(create_app(config).test_client(), body))
    extended = create_app({**config, "CODE_LISTS_EXTRA": {"serious_illness": {"snomed": ["1234567"]}}})
    assert "high-mme" not in rule_ids(post_hook(extended.test_client(), body))


def test_clinical_review_document_is_current(capsys):
    """docs/cards.md is what `cds-service cards` prints today (regenerate it after changing a card file)."""
    from cds_service.cli import main

    assert main(["cards", "--fixtures", str(FIXTURES)]) == 0
    rendered = capsys.readouterr().out
    assert (ROOT / "docs" / "cards.md").read_text(encoding="utf-8") == rendered, (
        "run: cds-service cards > docs/cards.md")
    assert rendered.count("\n## `") == len(CATALOGUE)
