"""The rule framework: rules are found from their declarations, the engine applies their exclusion and the
site's switches, off-by-default rules wait for RULES_ENABLED, and what a rule could not know is logged."""
from __future__ import annotations

import json
from datetime import date
import logging

import pytest

from cds_service import create_app
from cds_service.config import ConfigError, load_settings
from cds_service.engine import enabled_rules
from cds_service.rules import DEFAULT_PARAMS, RULES, Param, Rule
from conftest import FIXTURES, load_json, post_hook, rule_ids
from facts_builder import condition, excluded, order, patient_facts

PATCH_FOR_NAIVE = "requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json"


def test_every_rule_module_declares_its_rule_and_the_registry_is_derived_from_them():
    import importlib
    import pkgutil

    import cds_service.rules as package

    modules = [m.name for m in pkgutil.iter_modules(package.__path__) if m.name not in ("base", "common")]
    assert sorted(r.replace("-", "_") for r in RULES) == sorted(modules)
    for name in modules:
        rule = importlib.import_module(f"cds_service.rules.{name}").RULE
        assert RULES[rule.id] is rule
        assert DEFAULT_PARAMS[rule.id] == {p.name: p.default for p in rule.params}
        assert all(p.source for p in rule.params), rule.id  # every default names its source
    assert [r.position for r in RULES.values()] == sorted(r.position for r in RULES.values())


def test_a_declaration_refuses_unknown_facts_and_exclusions_and_an_unverified_rule_left_on():
    def evaluate(facts, params):
        return []
    with pytest.raises(ValueError, match="unknown facts"):
        Rule("x", 1, evaluate, (), ("vital_signs",))
    with pytest.raises(ValueError, match="exclusion"):
        Rule("x", 1, evaluate, (), ("drafts",), exclusion="frailty")
    with pytest.raises(ValueError, match="off by default"):
        Rule("x", 1, evaluate, (), ("drafts",), unverified="waits for a label")


def test_the_engine_applies_a_rules_exclusion_before_it_runs(config, monkeypatch):
    calls = []
    rule = RULES["high-mme"]
    original = rule.evaluate
    monkeypatch.setattr(rule, "evaluate", lambda facts, params: calls.append(1) or original(facts, params))
    client = create_app(config).test_client()
    body = load_json("requests/high-mme/silent-excluded-pancreatic-cancer.order-sign.r4.json")
    assert "high-mme" not in rule_ids(post_hook(client, body))
    assert calls == []  # never called: the exclusion is the engine's, not copied into the rule
    body = load_json("requests/high-mme/fires-hydrocodone-added-to-tramadol-80-mme.order-sign.r4.json")
    assert "high-mme" in rule_ids(post_hook(client, body)) and calls == [1]


def test_end_of_life_is_not_cancer_alone():
    cancer = patient_facts(conditions=[condition("C25.0", "Malignant neoplasm of head of pancreas")])
    hospice = patient_facts(conditions=[condition("Z51.5", "Encounter for palliative care")])
    assert cancer.excluded("serious_illness") and not cancer.excluded("end_of_life")
    assert hospice.excluded("serious_illness") and hospice.excluded("end_of_life")
    assert excluded("high-mme", cancer)


def test_an_off_by_default_rule_runs_only_when_enabled(monkeypatch):
    rule = RULES["high-mme"]
    monkeypatch.setattr(rule, "enabled_by_default", False)
    monkeypatch.setattr(rule, "unverified", "test: waits for a source")
    settings = load_settings({"AUTH_MODE": "development"}, environ={})
    assert "high-mme" not in enabled_rules(settings)
    settings = load_settings({"AUTH_MODE": "development", "RULES_ENABLED": ["high-mme"]}, environ={})
    assert "high-mme" in enabled_rules(settings)
    settings = load_settings({"AUTH_MODE": "development", "RULES_ENABLED": ["high-mme"],
                              "RULES_DISABLED": ["high-mme"]}, environ={})
    assert "high-mme" not in enabled_rules(settings)  # switched off wins


def test_rules_enabled_names_known_rules():
    with pytest.raises(ConfigError, match="did you mean 'high-mme'"):
        load_settings({"AUTH_MODE": "development", "RULES_ENABLED": ["high-mmme"]}, environ={})


def test_unverified_parameters_and_rules_are_marked_on_the_review_document(monkeypatch, capsys):
    from cds_service.cli import main

    rule = RULES["high-mme"]
    monkeypatch.setattr(rule, "params", rule.params + (
        Param("check_something", False, "a secondary source only", unverified="the label table was not read"),))
    assert main(["cards"]) == 0
    section = capsys.readouterr().out.split("## `high-mme`")[1].split("\n## ")[0]
    assert "**Not yet verified** (off by default): `check_something` = false: the label table was not read" in section


def test_what_a_rule_could_not_know_is_logged_without_patient_data(config, monkeypatch, caplog):
    rule = RULES["opioid-bowel-regimen"]
    monkeypatch.setattr(rule, "evaluate", lambda facts, params: facts.unknown(rule.id, "renal function: no result") or [])
    client = create_app(config).test_client()
    with caplog.at_level(logging.INFO, logger="cds_service.engine"):
        post_hook(client, load_json(PATCH_FOR_NAIVE))
    assert "rule opioid-bowel-regimen: renal function: no result" in caplog.text


def test_a_rule_that_reads_a_missing_prefetch_key_says_so(config, caplog):
    path = sorted((FIXTURES / "requests" / "tca-ecg-screening").glob("fires-*.order-sign.r4.json"))[0]
    body = json.loads(path.read_text(encoding="utf-8"))
    del body["prefetch"]["observations"]
    client = create_app(config).test_client()
    with caplog.at_level(logging.INFO, logger="cds_service.engine"):
        response = post_hook(client, body)
    assert response.status_code == 200
    assert "rule tca-ecg-screening ran without observations" in caplog.text
    assert "Patient" not in caplog.text.split("ran without")[1].splitlines()[0]


def test_the_facts_builder_reads_drafts_as_the_service_does():
    facts = patient_facts(drafts=[order("traMADol (ULTRAM) 50 MG tablet", per_day=4)], age=70)
    (draft,) = facts.reported
    assert draft.product.ingredient_names == ("tramadol",) and facts.age == 70
    assert draft.dose.ingredients[0].mg_per_day == 200


def test_what_is_taken_alongside_a_draft_by_class_is_the_same_as_filtering_everything_alongside_it():
    """Pair rules ask for the medications of a class alongside each draft (found once per call): the answer must
    be what scanning everything alongside the draft gives, in the same order, never the draft itself."""
    facts = patient_facts(
        drafts=[order("oxycodone hydrochloride 5 MG Oral Tablet", rxnorm="1049621", per_day=4),
                order("alprazolam 0.5 MG Oral Tablet", per_day=2),
                order("hydromorphone hydrochloride 2 MG Oral Tablet", per_day=4)],
        current=[order("lorazepam 1 MG Oral Tablet", per_day=2, authored=date(2026, 11, 1)),
                 order("sertraline 50 MG Oral Tablet", per_day=1, authored=date(2026, 11, 1))])
    for draft in facts.drafts:
        for classes in [("opioid",), ("benzodiazepine",), ("opioid", "benzodiazepine")]:
            expected = [u.ref for u in facts.alongside(draft) if u.has_class(*classes)]
            assert [u.ref for u in facts.alongside_with(draft, *classes)] == expected
    oxycodone = facts.drafts[0]
    assert [u.ref for u in facts.alongside_with(oxycodone, "opioid")] == [facts.drafts[2].ref]
    assert len(facts.alongside_with(oxycodone, "benzodiazepine")) == 2  # the current lorazepam and the draft
