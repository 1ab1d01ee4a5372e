"""Whole hook requests written the way real EHRs and prescribers send them (fhir_fixtures/ehr_styles/).

The generated fixtures (fhir_fixtures/requests/) all name drugs by RxNorm code and normalized name. Real orders
do not: Epic sends its own medication names ("HYDROcodone-acetaminophen (NORCO) 5-325 MG per tablet"), a
Medication resource inside the draft Bundle with local ERX codes beside (or instead of) RxNorm codes, doses in
``timing.code`` and dose extensions, and prefetch under keys the site chose; prescribers type lower-case names
("oxycodone 5 mg tab") or brands ("Norco 5/325", "Duragesic 25") with no code at all (docs/clinical-rules.md §5). These
requests were written by hand, one clinical story each, and ``expected.json`` holds the cards a pharmacist
would give for that story, with the reason: the expectation comes from docs/clinical-rules.md / docs/clinical-rules.md, not from
running the service, so a difference is a finding about the service.

File names are ``<style>--<rule>--<fires|silent>--<story>.json``: the style (epic, lower, brand), the headline rule
the story is about, and whether that rule should fire. Every request lists *all* the cards it should get (for
example a 60 MME/day draft without naloxone also gets naloxone-coprescribe). Card order is compared as sorted
lists: docs/clinical-rules.md §3 orders cards only by indicator, not within one indicator.
"""
from __future__ import annotations

import json

import pytest

from conftest import FIXTURES, post_hook, rule_ids

STYLE_DIR = FIXTURES / "ehr_styles"
EXPECTED: dict[str, dict] = json.loads((STYLE_DIR / "expected.json").read_text(encoding="utf-8"))
REQUEST_FILES = sorted(p.name for p in STYLE_DIR.glob("*.json") if p.name != "expected.json")
STYLES = ("epic", "lower", "brand")
HEADLINE_RULES = ("fentanyl-patch-opioid-naive", "er-la-opioid-naive", "naltrexone-opioid", "tramadol-serotonergic",
                  "neuropathic-opioid-not-first-line", "naloxone-coprescribe", "high-mme", "opioid-benzodiazepine",
                  "opioid-bowel-regimen")


def _parts(name: str) -> tuple[str, str, str]:
    style, rule, outcome, _story = name[: -len(".json")].split("--")
    return style, rule, outcome


@pytest.mark.parametrize("name", REQUEST_FILES)
def test_request_gets_the_pharmacists_cards(client, name):
    body = json.loads((STYLE_DIR / name).read_text(encoding="utf-8"))
    expected = EXPECTED[name]
    got = sorted(rule_ids(post_hook(client, body)))
    assert got == sorted(expected["cards"]), f"{name}: {expected['why']}"


def test_every_request_has_an_expectation_and_every_rule_is_covered_per_style():
    assert sorted(EXPECTED) == REQUEST_FILES, "expected.json and the request files must name the same requests"
    rule_ids_known = {p.name for p in (FIXTURES / "scenarios").iterdir() if p.is_dir()}
    for name, spec in EXPECTED.items():
        style, rule, outcome = _parts(name)
        assert style in STYLES and rule in HEADLINE_RULES and outcome in ("fires", "silent"), name
        assert set(spec["cards"]) <= rule_ids_known, name
        assert len(spec["cards"]) == len(set(spec["cards"])), name
        assert spec["why"].strip(), name
        assert (rule in spec["cards"]) == (outcome == "fires"), f"{name}: its name and its cards disagree"
        body = json.loads((STYLE_DIR / name).read_text(encoding="utf-8"))
        assert body["hook"] in ("order-sign", "order-select", "medication-prescribe"), name
    for style in STYLES:
        files = {n: EXPECTED[n]["cards"] for n in EXPECTED if _parts(n)[0] == style}
        for rule in HEADLINE_RULES:
            assert any(rule in cards for cards in files.values()), f"no {style} request where {rule} fires"
            assert any(_parts(n)[1] == rule and _parts(n)[2] == "silent" and rule not in cards
                       for n, cards in files.items()), f"no {style} near-miss where {rule} stays silent"
