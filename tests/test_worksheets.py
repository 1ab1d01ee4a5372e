"""Whole hook requests, checked against a pharmacist's worksheet: the total MME/day once the drafts are signed
(drafts replacing the orders they renew, one therapy counted once), and the tolerance and naivety verdicts."""
from __future__ import annotations

import json
from datetime import date

import pytest

from cds_service.facts import FactBuilder
from cds_service.fhir.prefetch import gather
from cds_service.hooks import order_context
from cds_service.knowledge.drugs import DrugKnowledge
from cds_service.knowledge.exposure import assess_opioid_tolerance, is_opioid_naive, regimen_with_drafts
from cds_service.knowledge.mme import daily_mme
from conftest import FIXTURES

WORKSHEETS = sorted((FIXTURES / "worksheets").glob("*.json"))
TODAY = date(2026, 11, 22)


def facts_for(body: dict):
    ctx = order_context(body)
    record = gather(body.get("prefetch"), ctx.patient_id, None, None, [], ctx.fhir_version == "DSTU2")
    return FactBuilder(DrugKnowledge.load()).build(ctx, record, TODAY)


@pytest.mark.parametrize("path", WORKSHEETS, ids=lambda p: p.stem)
def test_worksheet(path):
    case = json.loads(path.read_text(encoding="utf-8"))
    facts = facts_for(case["request"])
    expected = case["expected"]
    total = daily_mme(regimen_with_drafts(facts.current, facts.drafts))
    assert not total.incomplete, [line.reason for line in total.incomplete]
    assert total.total == pytest.approx(expected["mme_per_day"])
    assert assess_opioid_tolerance(facts.current, facts.exposures, TODAY).tolerant is expected["tolerant"]
    assert is_opioid_naive(facts.exposures, TODAY) is expected["naive"]
