"""Cards Epic can show and act on, and feedback as Epic sends it (Epic's CDS Hooks tutorial, as summarised in the
project's EHR notes): topic codes of letters and digits, `selectionBehavior: any`, one action per suggestion,
RxNorm as its OID, the dose in the words; every other client keeps the spec's shape. Requests are the Epic-shaped
fixtures in fhir_fixtures/ehr_styles (request extensions, Medication entries in draftOrders, display-only
prefetch)."""
from __future__ import annotations

import copy
import json
import re

import pytest

from cds_service import create_app
from cds_service.cards import RXNORM, RXNORM_OID
from cds_service.knowledge.drugs import DrugKnowledge
from conftest import FIXTURES, SERVICE_FOR_HOOK, card_ids, load_json, post_hook

EPIC_FIRING = sorted((FIXTURES / "ehr_styles").glob("epic--*--fires--*.json"))
FENTANYL = "ehr_styles/epic--fentanyl-patch-opioid-naive--fires--patch-after-knee-replacement.json"
FEEDBACK_URL = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}/feedback"
DOSE_WORDS = re.compile(r"\d+(\.\d+)?\s*(mg|mcg|tablets?|capsules?|sprays?)\b", re.I)
PRODUCTS = DrugKnowledge.load().products  # RxCUI -> RxNorm name, from the CDC value sets (see knowledge/data)


def _without_epic_extensions(body: dict) -> dict:
    body = copy.deepcopy(body)
    body.pop("extension", None)
    return body


def _creates(cards: list[dict]) -> list[dict]:
    return [a for c in cards for s in c.get("suggestions", []) for a in s["actions"] if a["type"] == "create"]


@pytest.mark.parametrize("path", EPIC_FIRING, ids=lambda p: p.name)
def test_every_card_for_an_epic_request_meets_epics_constraints(client, path):
    cards = post_hook(client, json.loads(path.read_text(encoding="utf-8"))).get_json()["cards"]
    assert cards
    for card in cards:
        code = card["source"]["topic"]["code"]
        assert code.isascii() and code.isalnum() and len(code) <= 100, code
        for suggestion in card.get("suggestions", []):
            assert card["selectionBehavior"] == "any"
            assert len(suggestion["actions"]) == 1 and suggestion["label"] and suggestion["uuid"]
        for action in _creates([card]):
            codings = (action["resource"].get("medicationCodeableConcept") or {}).get("coding", [])
            if action["resource"]["resourceType"] == "MedicationRequest":
                assert codings and all(c["system"] == RXNORM_OID for c in codings)
                assert DOSE_WORDS.search(action["description"])  # Epic ignores the resource's dose: say it


def test_the_same_request_from_another_client_keeps_the_specs_shape(client):
    body = load_json(FENTANYL)
    epic = post_hook(client, body).get_json()["cards"]
    standard = post_hook(client, _without_epic_extensions(body)).get_json()["cards"]
    assert card_ids(post_hook(client, body)) == [c["source"]["topic"]["code"] for c in standard]
    fentanyl = next(c for c in standard if c["source"]["topic"]["code"] == "fentanyl-patch-opioid-naive")
    replace = next(s for s in fentanyl["suggestions"] if len(s["actions"]) == 2)
    assert [a["type"] for a in replace["actions"]] == ["delete", "create"]
    assert replace["actions"][1]["resource"]["medicationCodeableConcept"]["coding"][0]["system"] == RXNORM
    epic_fentanyl = next(c for c in epic if c["source"]["topic"]["code"] == "FentanylPatchOpioidNaive")
    kinds = sorted(s["actions"][0]["type"] for s in epic_fentanyl["suggestions"])
    assert kinds.count("delete") == 1  # the replace's removal is the card's own "remove" suggestion, offered once
    assert "create" in kinds


def test_a_site_setting_chooses_the_shape_whatever_the_request_says(config):
    body = load_json(FENTANYL)
    as_epic = create_app({**config, "CLIENT_PROFILE": "epic"}).test_client()
    as_standard = create_app({**config, "CLIENT_PROFILE": "standard"}).test_client()
    codes = {c["source"]["topic"]["code"] for c in post_hook(as_epic, _without_epic_extensions(body)).get_json()["cards"]}
    assert "FentanylPatchOpioidNaive" in codes
    codes = {c["source"]["topic"]["code"] for c in post_hook(as_standard, body).get_json()["cards"]}
    assert "fentanyl-patch-opioid-naive" in codes


def test_the_epic_fixtures_are_shaped_as_epic_sends_them():
    body = load_json(FENTANYL)
    assert any(k.startswith("com.epic.cdshooks.request.") for k in body["extension"])
    entries = body["context"]["draftOrders"]["entry"]
    assert any(e["resource"]["resourceType"] == "Medication" for e in entries)


def test_every_drug_a_suggestion_orders_is_coded_from_the_product_table(app):
    """The sandbox applies a suggestion only when its drug has a code, and Epic orders by code: each create
    names an RxNorm product the service's tables (from the CDC value sets) know, by the same name."""
    catalog = app.extensions["cds_engine"].catalog
    checked = 0
    for rule_id, spec in catalog.cards.items():
        for key, suggestion in spec.get("suggestions", {}).items():
            for action in suggestion["actions"]:
                concept = (action.get("resource") or {}).get("medicationCodeableConcept")
                if concept is None:
                    continue
                rxnorm = [c for c in concept["coding"] if c["system"] == RXNORM]
                assert rxnorm, f"{rule_id}/{key}"
                for coding in rxnorm:
                    if coding["code"] == "{product_rxcui}":  # the drafted product's own code, at another dose
                        assert coding["display"] == "{product_name}", f"{rule_id}/{key}"
                        continue
                    assert PRODUCTS.get(coding["code"], "").lower() == coding["display"].lower(), f"{rule_id}/{key}"
                    checked += 1
    assert checked >= 7


def test_a_suggestion_without_a_code_stops_the_start(tmp_path, config):
    import shutil

    from cds_service.cards import CardFileError

    cards = tmp_path / "cards"
    shutil.copytree(FIXTURES.parent / "cards", cards)
    text = (cards / "naloxone-coprescribe.yaml").read_text(encoding="utf-8")
    (cards / "naloxone-coprescribe.yaml").write_text(re.sub(r"coding:\n(\s+- \{system.*\n)", "", text), encoding="utf-8")
    with pytest.raises(CardFileError, match="without a code"):
        create_app({**config, "CARDS_DIR": str(cards)})


def _epic_feedback(cards: list[dict]) -> dict:
    """Feedback as Epic sends it (batched; overrideReasons plural and an object): a reason the card offered with a
    comment, one of Epic's own reasons (extension keys) with a comment, an accepted suggestion; CARD-1..3 and
    SUGGESTION-1 become the uuids of a real response."""
    body = load_json("feedback/epic-batched-overrides.json")
    accepted = next(c for c in cards[2:] if c.get("suggestions"))
    text = json.dumps(body).replace("CARD-1", cards[0]["uuid"]).replace("CARD-2", cards[1]["uuid"])
    text = text.replace("CARD-3", accepted["uuid"]).replace("SUGGESTION-1", accepted["suggestions"][0]["uuid"])
    return json.loads(text)


def test_epic_feedback_reaches_the_governance_figures_with_its_reasons(config):
    app = create_app({**config, "FOLD_INTO_CRITICAL": False})  # three cards to answer
    client = app.test_client()
    cards = post_hook(client, load_json(FENTANYL)).get_json()["cards"]
    assert len(cards) >= 3
    response = client.post(FEEDBACK_URL, json=_epic_feedback(cards))
    assert response.get_json() == {"stored": 3, "duplicates": 0}
    rows = {r["card_uuid"]: r for r in app.extensions["cds_store"].feedback()}
    first, second = rows[cards[0]["uuid"]], rows[cards[1]["uuid"]]
    assert (first["override_code"], first["user_comment"]) == (
        "tolerance-documented-elsewhere", "On oxycodone 10 mg q6h from the pain clinic, outside records reviewed")
    assert (second["override_code"], second["override_display"], second["user_comment"]) == (
        "45", "Does not meet criteria", "Laxative taken at home")
    summary = app.extensions["cds_store"].rule_summary()
    reasons = {name for figures in summary.values() for name in figures["reasons"]}
    assert {"Patient is opioid-tolerant (opioid history recorded outside this EHR)", "Does not meet criteria"} <= reasons


def test_override_reasons_as_an_array_are_read_too(app, client):
    cards = post_hook(client, load_json(FENTANYL)).get_json()["cards"]
    item = {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:05:00Z",
            "overrideReasons": [{"userComment": "see note"},
                                {"reason": {"code": "palliative-care", "display": "Palliative or end-of-life care"}}]}
    assert client.post(FEEDBACK_URL, json={"feedback": [item]}).get_json()["stored"] == 1
    row = app.extensions["cds_store"].feedback()[0]
    assert (row["override_code"], row["user_comment"]) == ("palliative-care", "see note")


def test_one_reason_spelt_two_ways_is_one_line_in_the_figures(app, client):
    store = app.extensions["cds_store"]
    store.record_cards("svc", [("c1", "high-mme", "warning"), ("c2", "high-mme", "warning")])
    items = [{"card": card, "outcome": "overridden", "outcomeTimestamp": f"2026-11-22T15:0{i}:00Z",
              "overrideReasons": {"reason": {"code": "benefit", "display": display}}}
             for i, (card, display) in enumerate([("c1", "Benefit outweighs risk"), ("c2", "Benefit outweighs the risk")])]
    client.post(FEEDBACK_URL, json={"feedback": items})
    reasons = store.rule_summary()["high-mme"]["reasons"]
    assert sum(reasons.values()) == 2 and len(reasons) == 1


def test_every_topic_code_for_epics_build_is_listed_where_the_readme_sends_integrators():
    from cds_service.cards import topic_code
    from cds_service.rules import RULES

    readme = (FIXTURES.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Connecting Epic"):readme.index("## Services and prefetch")]
    assert "docs/cards.md" in section and "`CheckFailed`" in section
    cards_md = (FIXTURES.parent / "docs" / "cards.md").read_text(encoding="utf-8")
    for rule_id in RULES:
        assert f"(for Epic: `{topic_code(rule_id)}`)" in cards_md, rule_id


def test_a_reason_sent_as_a_code_alone_shows_the_words_the_card_offered(app, client):
    cards = post_hook(client, load_json(FENTANYL)).get_json()["cards"]
    item = {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:05:00Z",
            "overrideReasons": {"reason": {"code": "palliative-care",
                                           "system": "urn:pain-medication-safety:override-reason"}}}
    client.post(FEEDBACK_URL, json={"feedback": [item]})
    assert app.extensions["cds_store"].feedback()[0]["override_display"] == "Palliative or end-of-life care"


def test_a_medication_without_a_product_code_is_named_by_its_own_text(client):
    """Only the ingredient code (fentanyl 4337) and a local code: the card reads from the ingredients and the
    form, and names the drug as the Medication does, not as a run-together of form words."""
    body = load_json(FENTANYL)
    medication = next(e["resource"] for e in body["context"]["draftOrders"]["entry"]
                      if e["resource"]["resourceType"] == "Medication")
    medication["code"]["coding"] = [c for c in medication["code"]["coding"] if c.get("code") != "245134"]
    cards = post_hook(client, body).get_json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "FentanylPatchOpioidNaive")
    assert "fentaNYL (DURAGESIC) 25 mcg/hr patch" in card["detail"]
    assert "PT72 Patch" not in card["detail"] and "25 mcg/h" in card["detail"]


def test_opioid_naive_cards_say_which_medication_history_they_could_not_read(client):
    """Epic's documented prefetch sends active orders only, and no dispenses or statements: "no opioid in 90 days"
    is then only as good as what was sent, and the card says so."""
    body = load_json("ehr_styles/epic--er-la-opioid-naive--fires--oxycontin-as-first-opioid.json")
    card = next(c for c in post_hook(client, body).get_json()["cards"]
                if c["source"]["topic"]["code"] == "ErLaOpioidNaive")
    assert "Not available to this check" in card["detail"] and "medicationDispenses" in card["detail"]
    complete = copy.deepcopy(body)
    complete["prefetch"].update({"medicationDispenses": None, "medicationStatements": None})  # "none on record"
    card = next(c for c in post_hook(client, complete).get_json()["cards"]
                if c["source"]["topic"]["code"] == "ErLaOpioidNaive")
    assert "Not available to this check" not in card["detail"]
