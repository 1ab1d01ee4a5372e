"""opioid-gabapentinoid-respiratory: both directions, each further respiratory risk factor, the renal band edge,
unknown renal function, the plain combination, PAMORA, MOUD advice and the end-of-life (not cancer) exclusion."""
from __future__ import annotations

from datetime import timedelta

from facts_builder import ICD10CM, SNOMED, TODAY, condition, excluded, lab, order, patient_facts, run

RULE = "opioid-gabapentinoid-respiratory"
GABAPENTIN = dict(medication="gabapentin 300 MG Oral Capsule", rxnorm="310431", unit="capsule")
OXYCODONE = dict(medication="oxycodone hydrochloride 5 MG Oral Tablet", rxnorm="1049621", per_day=4)


def gabapentin(**kw):
    return order(**{**GABAPENTIN, **kw})


def oxycodone(**kw):
    return order(**{**OXYCODONE, **kw})


def findings(*, drafts, current=(), **kw):
    return run(RULE, patient_facts(drafts=list(drafts), current=list(current), **kw))


def factors(found) -> list[str]:
    return [f["factor"] for f in found.lists["factors"]]


def advice(found) -> list[str]:
    return [a["advice"] for a in found.lists["advice"]]


def renal_labs(creatinine: float, kg: float = 70, days_ago: int = 20):
    when = TODAY - timedelta(days=days_ago)
    return [lab("2160-0", creatinine, "mg/dL", when=when), lab("29463-7", kg, "kg", when=when, category="vital-signs")]


def test_plain_combination_is_silent_and_renal_unknown_is_logged():
    facts = patient_facts(drafts=[gabapentin()], current=[oxycodone()], age=50)
    assert run(RULE, facts) == []
    assert (RULE, "renal function: no creatinine or eGFR within 365 days") in facts.unknowns


def test_gabapentinoid_draft_with_current_opioid_and_sleep_apnea():
    osa = condition("G47.33", "Obstructive sleep apnea (adult) (pediatric)")
    [f] = findings(drafts=[gabapentin()], current=[oxycodone()], conditions=[osa], age=50)
    assert factors(f) == ["sleep_disordered_breathing"]
    assert f.lists["factors"][0]["condition"].endswith("(G47.33)")
    assert advice(f) == ["start_low_gabapentin", "naloxone"]  # no opioid drafted: no reduce-dose advice
    assert f.fields["renal_note"] == "unknown"


def test_opioid_draft_with_current_pregabalin_and_snomed_sleep_apnea():
    osa = condition("1101000119103", "Obstructive sleep apnea of adult", system=SNOMED)
    pregabalin = order("pregabalin 75 MG Oral Capsule", rxnorm="483450", unit="capsule", per_day=2)
    [f] = findings(drafts=[oxycodone()], current=[pregabalin], conditions=[osa], age=50)
    assert f.fields["direction"] == "opioid" and advice(f) == ["reduce_opioid", "naloxone"]


def test_shift_work_sleep_disorder_is_not_a_breathing_disorder():
    shift_work = condition("G47.26", "Circadian rhythm sleep disorder, shift work type")
    assert findings(drafts=[gabapentin()], current=[oxycodone()], conditions=[shift_work], age=50) == []


def test_copd_counts_active_only():
    copd = condition("J44.9", "Chronic obstructive pulmonary disease, unspecified")
    assert factors(findings(drafts=[gabapentin()], current=[oxycodone()], conditions=[copd], age=50)[0]) == ["copd"]
    resolved = condition("J44.9", "Chronic obstructive pulmonary disease, unspecified", status="resolved")
    assert findings(drafts=[gabapentin()], current=[oxycodone()], conditions=[resolved], age=50) == []


def test_age_edge_65():
    assert findings(drafts=[gabapentin()], current=[oxycodone()], age=64) == []
    [f] = findings(drafts=[gabapentin()], current=[oxycodone()], age=65)
    assert factors(f) == ["age"] and "beers" in advice(f)


def test_cns_depressants_count_but_antidepressants_do_not():
    sertraline = order("sertraline 50 MG Oral Tablet", rxnorm="312941")
    assert findings(drafts=[gabapentin()], current=[oxycodone(), sertraline], age=50) == []
    for name in ("cyclobenzaprine hydrochloride 10 MG Oral Tablet", "zolpidem tartrate 5 MG Oral Tablet",
                 "lorazepam 0.5 MG Oral Tablet", "butalbital 50 MG / acetaminophen 325 MG Oral Tablet"):
        [f] = findings(drafts=[gabapentin()], current=[oxycodone(), order(name)], age=50)
        assert factors(f) == ["cns_depressant"], name


def test_drafted_depressant_counts_too():
    [f] = findings(drafts=[gabapentin(), order("zolpidem tartrate 5 MG Oral Tablet")], current=[oxycodone()], age=50)
    assert factors(f) == ["cns_depressant"]


def test_creatinine_clearance_edge_60():
    # male, 50 years, 70 kg: CrCl = 90 x 70 / (72 x SCr); SCr 1.4583 -> 60.0 (not below), SCr 1.5 -> 58.3
    assert findings(drafts=[gabapentin()], current=[oxycodone()], observations=renal_labs(1.4583),
                    age=50, gender="male") == []
    [f] = findings(drafts=[gabapentin()], current=[oxycodone()], observations=renal_labs(1.5), age=50, gender="male")
    assert factors(f) == ["renal_cockcroft-gault"] and f.fields["crcl"] == "58.3"
    assert "serum creatinine 1.5 mg/dL on" in f.fields["renal_inputs"]


def test_creatinine_in_micromol_per_litre():
    # 132.6 umol/L = 1.4996 mg/dL (/ 88.42): 58.3 mL/min, as 1.5 mg/dL
    when = TODAY - timedelta(days=5)
    obs = [lab("14682-9", 132.6, "umol/L", when=when), lab("29463-7", 70, "kg", when=when, category="vital-signs")]
    [f] = findings(drafts=[gabapentin()], current=[oxycodone()], observations=obs, age=50, gender="male")
    assert f.fields["crcl"] == "58.3"


def test_egfr_fallback_is_named_as_egfr():
    egfr = lab("98979-8", 45, "mL/min/{1.73_m2}", when=TODAY - timedelta(days=30))
    [f] = findings(drafts=[gabapentin()], current=[oxycodone()], observations=[egfr], age=50)
    assert factors(f) == ["renal_egfr"]


def test_renal_result_outside_the_window_is_unknown_not_normal():
    facts = patient_facts(drafts=[gabapentin()], current=[oxycodone()], observations=renal_labs(3.0, days_ago=400),
                          age=50, gender="male")
    assert run(RULE, facts) == []
    assert any(rule == RULE and what.startswith("renal function") for rule, what in facts.unknowns)
    wider = patient_facts(drafts=[gabapentin()], current=[oxycodone()], observations=renal_labs(3.0, days_ago=400),
                          age=50, gender="male", renal_window=500)
    assert run(RULE, wider)[0].fields["renal_note"] == "counted"


def test_pamora_is_not_an_opioid():
    naloxegol = order("naloxegol 25 MG Oral Tablet")
    assert findings(drafts=[gabapentin()], current=[naloxegol], age=80) == []


def test_no_opioid_no_card():
    assert findings(drafts=[gabapentin()], age=80) == []


def test_both_drafted_gives_both_advices_and_one_involved_set():
    found = findings(drafts=[gabapentin(id="g"), oxycodone(id="o")], age=70)
    assert {f.draft.ref for f in found} == {"MedicationRequest/g", "MedicationRequest/o"}
    assert len({f.key() for f in found}) == 1  # the engine shows one card
    assert advice(found[0])[:2] == ["start_low_gabapentin", "reduce_opioid"]


def test_buprenorphine_for_oud_is_never_offered_for_reduction():
    suboxone = order("buprenorphine 8 MG / naloxone 2 MG Sublingual Film", rxnorm="1010604", unit="film")
    zolpidem = order("zolpidem tartrate 5 MG Oral Tablet")
    [f] = findings(drafts=[suboxone], current=[gabapentin(), zolpidem], age=40)
    assert "reduce_opioid" not in advice(f) and "moud" in advice(f)
    assert f.suggestions == () and f.removable == ()


def test_methadone_for_pain_gets_the_reduce_advice_methadone_for_oud_does_not():
    osa = condition("G47.33", "Obstructive sleep apnea (adult) (pediatric)")
    methadone = dict(medication="methadone hydrochloride 10 MG Oral Tablet", rxnorm="864706")
    [pain] = findings(drafts=[order(**methadone)], current=[gabapentin()], conditions=[osa], age=50)
    assert "reduce_opioid" in advice(pain) and "moud" not in advice(pain)
    oud = {"coding": [{"system": ICD10CM, "code": "F11.20", "display": "Opioid dependence, uncomplicated"}]}
    [treatment] = findings(drafts=[order(**methadone, reason=oud)], current=[gabapentin()], conditions=[osa], age=50)
    assert "reduce_opioid" not in advice(treatment) and "moud" in advice(treatment)


def test_end_of_life_excludes_cancer_alone_does_not():
    cancer = condition("C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung")
    facts = patient_facts(drafts=[gabapentin()], current=[oxycodone()], conditions=[cancer], age=70)
    assert not excluded(RULE, facts) and run(RULE, facts)
    hospice = condition("385763009", "Hospice care", system=SNOMED)
    facts = patient_facts(drafts=[gabapentin()], current=[oxycodone()], conditions=[hospice], age=70)
    assert excluded(RULE, facts) and run(RULE, facts)  # the engine skips it; the rule itself would fire
