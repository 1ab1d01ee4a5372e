"""older-adult-cns-burden: age edge, the three-class edge, classes counted not drugs, the MAOI class left out,
renewals, which drafts trigger it, what is offered for removal, and the end-of-life exclusion."""
from __future__ import annotations

from facts_builder import ICD10CM, SNOMED, condition, excluded, order, patient_facts, run

RULE = "older-adult-cns-burden"


def gabapentin(**kw):
    return order("gabapentin 300 MG Oral Capsule", rxnorm="310431", unit="capsule", **kw)


def oxycodone(**kw):
    return order("oxycodone hydrochloride 5 MG Oral Tablet", rxnorm="1049621", per_day=3, **kw)


def sertraline():
    return order("sertraline 50 MG Oral Tablet", rxnorm="312941")


def quetiapine():
    return order("quetiapine 25 MG Oral Tablet", rxnorm="312744")


def findings(*, drafts, current=(), age=80, **kw):
    return run(RULE, patient_facts(drafts=list(drafts), current=list(current), age=age, **kw))


def test_four_classes_at_80():
    [f] = findings(drafts=[gabapentin(id="g")], current=[oxycodone(), sertraline(), quetiapine()])
    assert f.fields["class_count"] == 4
    assert [i["beers_class"] for i in f.lists["drugs"]] == [["antiepileptic"], ["opioid"], ["antidepressant"],
                                                             ["antipsychotic"]]
    assert [u.ref for u in f.removable] == ["MedicationRequest/g"]  # current drugs are not removed by a card


def test_age_edge_65():
    current = [oxycodone(), sertraline(), quetiapine()]
    assert findings(drafts=[gabapentin()], current=current, age=64) == []
    assert findings(drafts=[gabapentin()], current=current, age=65)
    assert findings(drafts=[gabapentin()], current=current, age=None) == []  # no birth date: age unknown


def test_three_class_edge():
    assert findings(drafts=[gabapentin()], current=[sertraline()]) == []  # 2 classes
    assert findings(drafts=[gabapentin()], current=[sertraline(), quetiapine()])[0].fields["class_count"] == 3


def test_classes_are_counted_not_drugs():
    trazodone = order("trazodone hydrochloride 50 MG Oral Tablet")
    assert findings(drafts=[gabapentin()], current=[sertraline(), trazodone]) == []  # two antidepressants: one class
    hydromorphone = order("hydromorphone hydrochloride 2 MG Oral Tablet", rxnorm="897696")
    assert findings(drafts=[oxycodone()], current=[hydromorphone, sertraline()]) == []  # two opioids: one class


def test_linezolid_and_selegiline_are_not_antidepressants_phenelzine_is():
    for name in ("linezolid 600 MG Oral Tablet", "selegiline hydrochloride 5 MG Oral Capsule"):
        assert findings(drafts=[gabapentin()], current=[oxycodone(), order(name)]) == [], name
    [f] = findings(drafts=[gabapentin()], current=[oxycodone(), order("phenelzine 15 MG Oral Tablet")])
    assert f.fields["class_count"] == 3


def test_every_beers_class_is_recognised():
    for name in ("lorazepam 0.5 MG Oral Tablet", "zolpidem tartrate 5 MG Oral Tablet",
                 "cyclobenzaprine hydrochloride 10 MG Oral Tablet", "levetiracetam 500 MG Oral Tablet",
                 "haloperidol 0.5 MG Oral Tablet", "duloxetine 60 MG Delayed Release Oral Capsule"):
        [f] = findings(drafts=[oxycodone()], current=[sertraline() if "duloxetine" not in name else quetiapine(),
                                                     order(name)])
        assert f.fields["class_count"] == 3, name


def test_only_opioid_or_gabapentinoid_drafts_trigger_it():
    assert findings(drafts=[quetiapine()], current=[oxycodone(), sertraline()]) == []


def test_drafts_count_and_both_triggering_drafts_are_removable():
    found = findings(drafts=[gabapentin(id="g"), oxycodone(id="o")], current=[sertraline()])
    assert len({f.key() for f in found}) == 1  # one card for the two drafts
    assert {u.ref for u in found[0].removable} == {"MedicationRequest/g", "MedicationRequest/o"}


def test_renewal_of_a_current_drug_is_silent_unless_asked():
    current = [oxycodone(id="rx-oxy"), sertraline(), quetiapine()]
    renewal = oxycodone()
    renewal["priorPrescription"] = {"reference": "MedicationRequest/rx-oxy"}
    facts = patient_facts(drafts=[renewal], current=current, age=80)
    assert run(RULE, facts) == []
    assert run(RULE, facts, on_renewal=True)
    prn = oxycodone(prn=True)  # the same drug as needed: no new drug either
    assert findings(drafts=[prn], current=current) == []


def test_buprenorphine_for_oud_is_not_offered_for_removal():
    suboxone = order("buprenorphine 8 MG / naloxone 2 MG Sublingual Film", rxnorm="1010604", unit="film", id="b")
    [f] = findings(drafts=[suboxone], current=[sertraline(), quetiapine()], age=70)
    assert f.removable == ()


def test_end_of_life_excludes():
    current = [oxycodone(), sertraline(), quetiapine()]
    palliative = condition("Z51.5", "Encounter for palliative care", system=ICD10CM)
    facts = patient_facts(drafts=[gabapentin()], current=current, conditions=[palliative], age=80)
    assert excluded(RULE, facts)
    cancer = condition("363358000", "Malignant tumor of lung", system=SNOMED)
    assert not excluded(RULE, patient_facts(drafts=[gabapentin()], current=current, conditions=[cancer], age=80))
