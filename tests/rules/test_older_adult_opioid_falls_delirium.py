"""older-adult-opioid-falls-delirium: age edge, delirium by text and code, falls and fractures, the severe acute pain
exception (falls only), resolved Conditions, non-opioid drafts and the end-of-life exclusion."""
from __future__ import annotations

from facts_builder import SNOMED, condition, excluded, order, patient_facts, run

RULE = "older-adult-opioid-falls-delirium"
DELIRIUM = {"resourceType": "Condition", "id": "c-delirium", "code": {"text": "Delirium"},
            "clinicalStatus": {"coding": [{"code": "active"}]}, "recordedDate": "2026-11-19"}
FALLS = condition("Z91.81", "History of falling")
SEVERE = {"text": "Severe acute pain, closed fracture of right femoral neck"}


def oxycodone(**kw):
    return order("oxycodone hydrochloride 5 MG Oral Tablet", rxnorm="1049621", per_day=4, days=3, **kw)


def findings(*, drafts, conditions, age=80, **kw):
    return run(RULE, patient_facts(drafts=list(drafts), conditions=list(conditions), age=age, **kw))


def test_text_only_delirium_fires():
    [f] = findings(drafts=[oxycodone()], conditions=[DELIRIUM])
    assert f.lists["conditions"] == [{"kind": "delirium", "name": "Delirium", "recorded": "recorded 2026-11-19"}]


def test_coded_delirium_fires():
    f05 = condition("F05", "Delirium due to known physiological condition")
    assert findings(drafts=[oxycodone()], conditions=[f05])


def test_age_edge_65():
    assert findings(drafts=[oxycodone()], conditions=[FALLS], age=64) == []
    assert findings(drafts=[oxycodone()], conditions=[FALLS], age=65)


def test_falls_and_fractures():
    assert findings(drafts=[oxycodone()], conditions=[FALLS])[0].lists["conditions"][0]["kind"] == "falls_or_fractures"
    wrist = condition("263102004", "Fracture of distal end of radius", system=SNOMED)
    assert findings(drafts=[oxycodone()], conditions=[wrist])
    risk = condition("Z91.81", "At risk for falls")
    risk["code"] = {"text": "Risk for falls"}  # a risk, not a history (the list's text_exclude)
    assert findings(drafts=[oxycodone()], conditions=[risk]) == []


def test_severe_acute_pain_excepts_falls_only():
    assert findings(drafts=[oxycodone(reason=SEVERE)], conditions=[FALLS]) == []
    [f] = findings(drafts=[oxycodone(reason=SEVERE)], conditions=[FALLS, DELIRIUM])
    assert [c["kind"] for c in f.lists["conditions"]] == ["delirium"] and f.fields["exception"] == "falls_excepted"
    assert findings(drafts=[oxycodone(reason={"text": "Acute pain"})], conditions=[FALLS])  # not "severe"


def test_resolved_fracture_counts_only_when_asked():
    old = condition("263102004", "Fracture of distal end of radius", system=SNOMED, status="resolved")
    facts = patient_facts(drafts=[oxycodone()], conditions=[old], age=75)
    assert run(RULE, facts) == []
    assert run(RULE, facts, count_resolved_falls=True)
    refuted = condition("263102004", "Fracture of distal end of radius", system=SNOMED, status="resolved")
    refuted["verificationStatus"] = {"coding": [{"code": "refuted"}]}
    assert run(RULE, patient_facts(drafts=[oxycodone()], conditions=[refuted], age=75), count_resolved_falls=True) == []


def test_non_opioid_draft_is_silent():
    assert findings(drafts=[order("gabapentin 300 MG Oral Capsule", rxnorm="310431")], conditions=[DELIRIUM]) == []


def test_end_of_life_excludes():
    hospice = condition("170935008", "Full care by hospice", system=SNOMED)
    assert excluded(RULE, patient_facts(drafts=[oxycodone()], conditions=[DELIRIUM, hospice], age=88))
    assert not excluded(RULE, patient_facts(drafts=[oxycodone()], conditions=[DELIRIUM], age=88))
