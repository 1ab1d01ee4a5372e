"""opioid-renal-caution: which opioids (morphine, codeine, meperidine in any form; any ER/LA opioid), which
Conditions (CKD stage 5, ESRD, dialysis; active only), meperidine's warning variant, MOUD left alone."""
from __future__ import annotations

from facts_builder import SNOMED, condition, order, patient_facts, run

RULE = "opioid-renal-caution"
ESRD = condition("N18.6", "End stage renal disease")


def findings(draft, conditions=(ESRD,)):
    return run(RULE, patient_facts(drafts=[draft], conditions=list(conditions)))


def test_morphine_immediate_release_with_esrd_is_info_with_the_condition_shown():
    [f] = findings(order("morphine sulfate 15 MG Oral Tablet", rxnorm="892582", per_day=3, prn=True))
    assert (f.variant, f.fields["kind"], f.fields["drug"]) == (None, "named", "morphine")
    assert (f.fields["condition_code"], f.fields["condition_name"]) == ("ICD-10-CM N18.6", "End stage renal disease")
    assert f.fields["condition_date"].startswith("recorded ")


def test_codeine_in_a_combination_with_ckd_stage_5_in_snomed():
    ckd5 = condition("433146000", "Chronic kidney disease stage 5", system=SNOMED)
    [f] = findings(order("acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet", rxnorm="993781", per_day=4),
                   [ckd5])
    assert f.fields["drug"] == "codeine" and f.fields["condition_code"] == "SNOMED CT 433146000"


def test_meperidine_is_a_warning_with_a_removal():
    [f] = findings(order("meperidine hydrochloride 50 MG Oral Tablet", rxnorm="861467", per_day=6, prn=True),
                   [condition("236435004", "End stage renal failure on dialysis", system=SNOMED)])
    assert (f.variant, f.suggestions) == ("meperidine", ("remove-draft",))


def test_er_la_opioids_and_morphine_er():
    [f] = findings(order("12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet", rxnorm="1049502", per_day=2))
    assert (f.fields["kind"], f.fields["drug_label"]) == ("er_la", "ER/LA opioid")
    [f] = findings(order("morphine sulfate 15 MG Extended Release Oral Tablet", rxnorm="891881", per_day=2))
    assert (f.fields["kind"], f.fields["drug_label"]) == ("both", "Morphine (ER/LA)")
    [f] = findings(order("methadone hydrochloride 10 MG Oral Tablet", rxnorm="864706", per_day=2))  # for pain
    assert f.fields["kind"] == "er_la"


def test_other_immediate_release_opioids_are_silent():
    assert findings(order("oxycodone hydrochloride 5 MG Oral Tablet", rxnorm="1049621", per_day=4)) == []


def test_medications_for_opioid_use_disorder_are_left_alone():
    oud = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F11.20",
                       "display": "Opioid dependence, uncomplicated"}]}
    assert findings(order("buprenorphine 8 MG / naloxone 2 MG Sublingual Film", rxnorm="1010604", per_day=1)) == []
    assert findings(order("methadone hydrochloride 10 MG Oral Tablet", rxnorm="864706", per_day=1, reason=oud)) == []


def test_no_severe_kidney_condition_or_a_resolved_one_is_silent():
    morphine = order("morphine sulfate 15 MG Oral Tablet", rxnorm="892582", per_day=3)
    assert findings(morphine, [condition("N18.30", "Chronic kidney disease, stage 3 unspecified")]) == []
    assert findings(morphine, [condition("N18.6", "End stage renal disease", status="resolved")]) == []
    assert findings(morphine, []) == []
