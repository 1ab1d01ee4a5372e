"""gabapentinoid-renal-dose: the NEURONTIN Table 1 bands and their edges, the CrCl inputs (Cockcroft-Gault in
mg/dL and umol/L, kg and lb, eGFR fallback), each silence, pregabalin behind its switch, the suggestion."""
from __future__ import annotations

from datetime import timedelta

from facts_builder import SNOMED, TODAY, condition, lab, order, patient_facts, run

RULE = "gabapentinoid-renal-dose"
CAPSULE_300 = ("gabapentin 300 MG Oral Capsule", "310431")
TABLET_600 = ("gabapentin 600 MG Oral Tablet", "310433")


def gabapentin(product=CAPSULE_300, dose: float = 1, per_day: float | None = 3, **kw):
    return order(product[0], rxnorm=product[1], dose=dose, per_day=per_day, **kw)


def egfr(value: float, days_ago: int = 10):
    return lab("98979-8", value, "mL/min/{1.73_m2}", display="eGFR CKD-EPI 2021", when=TODAY - timedelta(days=days_ago))


def creatinine(value: float, unit: str = "mg/dL", days_ago: int = 10):
    code = "2160-0" if unit == "mg/dL" else "14682-9"
    return lab(code, value, unit, display="Creatinine", when=TODAY - timedelta(days=days_ago))


def weight(value: float, unit: str = "kg", days_ago: int = 10):
    return lab("29463-7", value, unit, display="Body weight", when=TODAY - timedelta(days=days_ago),
               category="vital-signs")


def findings(draft, observations, age: int | None = 60, gender: str = "male", conditions=(), renal_window=365,
             **params):
    facts = patient_facts(drafts=[draft], observations=list(observations), age=age, gender=gender,
                          conditions=list(conditions), renal_window=renal_window)
    return run(RULE, facts, **params), facts


def test_cockcroft_gault_band_30_to_59_caps_the_dose_and_the_frequency():
    # (140 - 72) x 70 / (72 x 1.4) x 0.85 = 40.1 mL/min: >30 to 59, at most 1400 mg/day in two doses
    [f], _ = findings(gabapentin(TABLET_600), [creatinine(1.4), weight(70)], age=72, gender="female")
    assert (f.fields["crcl"], f.fields["renal_method"], f.fields["band_row"]) == ("40.1", "cockcroft-gault", ">30 to 59")
    assert (f.fields["daily_mg"], f.fields["band_max_mg"], f.fields["why"]) == ("1,800", "1,400", "both")
    assert "serum creatinine 1.4 mg/dL" in f.fields["renal_inputs"] and "weight 70 kg" in f.fields["renal_inputs"]
    # the drafted 600 mg tablet, twice a day, the most whole tablets within 1400 mg/day
    assert f.suggestions == ("dose-in-band",)
    assert (f.fields["units_per_dose"], f.fields["new_doses_per_day"], f.fields["new_daily_mg"]) == (1, 2, "1,200")


def test_dose_and_frequency_within_the_band_is_silent():
    found, _ = findings(gabapentin(per_day=2), [egfr(45)])
    assert found == []


def test_frequency_alone_fires_and_the_suggestion_keeps_the_daily_dose():
    [f], _ = findings(gabapentin(per_day=2), [egfr(22)])  # 600 mg/day, within 700, but twice a day
    assert (f.fields["band_row"], f.fields["why"], f.fields["renal_method"]) == (">15 to 29", "frequency", "egfr")
    assert (f.fields["units_per_dose"], f.fields["new_doses_per_day"], f.fields["new_daily_mg"]) == (2, 1, "600")


def test_values_on_or_between_rows_go_to_the_lower_row():
    for crcl, row in ((30, ">15 to 29"), (29.5, ">15 to 29"), (59.5, ">30 to 59"), (15, "<15")):
        [f], _ = findings(gabapentin(per_day=3), [egfr(crcl)])
        assert (f.fields["band_row"], f.fields["edge"]) == (row, "between"), crcl
    [f], _ = findings(gabapentin(per_day=3), [egfr(31)])  # inside ">30 to 59" as written
    assert (f.fields["band_row"], f.fields["edge"]) == (">30 to 59", "")
    assert findings(gabapentin(per_day=2), [egfr(31)])[0] == []  # 600 mg twice a day is within that row


def test_crcl_60_or_more_is_left_to_analgesic_max_dose():
    assert findings(gabapentin(TABLET_600, dose=2, per_day=3), [egfr(60)])[0] == []


def test_below_15_the_maximum_is_reduced_in_proportion():
    [f], _ = findings(gabapentin(("gabapentin 100 MG Oral Capsule", "310430"), dose=2, per_day=1), [egfr(7.5)])
    assert (f.fields["band_max_mg"], f.fields["proportion"]) == ("150", "reduced")
    assert (f.fields["units_per_dose"], f.fields["new_daily_mg"]) == (1, "100")
    assert findings(gabapentin(("gabapentin 100 MG Oral Capsule", "310430"), dose=1, per_day=1), [egfr(7.5)])[0] == []


def test_creatinine_in_umol_per_litre_and_weight_in_pounds():
    # 400 umol/L = 4.52 mg/dL; 154.3 lb = 70 kg; (140 - 66) x 70 / (72 x 4.52) = 15.9 mL/min
    [f], _ = findings(gabapentin(("gabapentin 400 MG Oral Capsule", "310432")),
                      [creatinine(400, "umol/L"), weight(154.3, "[lb_av]")], age=66)
    assert (f.fields["crcl"], f.fields["band_row"], f.fields["renal_method"]) == ("15.9", ">15 to 29", "cockcroft-gault")
    assert "400 umol/L" in f.fields["renal_inputs"]


def test_without_a_weight_the_egfr_is_used_and_without_either_the_rule_is_silent():
    [f], _ = findings(gabapentin(), [creatinine(2.4), egfr(24)])
    assert f.fields["renal_method"] == "egfr" and f.fields["crcl"] == "24"
    found, facts = findings(gabapentin(), [creatinine(2.4)])
    assert found == [] and [w for r, w in facts.unknowns if r == RULE] == [
        "renal function: no readable body weight in the window"]


def test_a_result_outside_the_window_is_not_used():
    old = [creatinine(3.0, days_ago=500), weight(62, days_ago=500)]
    found, facts = findings(gabapentin(), old, gender="female")
    assert found == [] and any(w.startswith("renal function:") for r, w in facts.unknowns if r == RULE)
    assert len(findings(gabapentin(), old, gender="female", renal_window=730)[0]) == 1


def test_under_12_and_unknown_age_are_silent():
    assert findings(gabapentin(), [egfr(25)], age=10)[0] == []
    found, facts = findings(gabapentin(), [egfr(25)], age=None)
    assert found == [] and any(w.startswith("age:") for r, w in facts.unknowns if r == RULE)
    assert len(findings(gabapentin(), [egfr(25)], age=18)[0]) == 1
    # 12 to 17: the label's table applies, but an adult eGFR is no child's creatinine clearance: unknown, logged
    found, facts = findings(gabapentin(), [egfr(25)], age=12)
    assert found == [] and any("adults only" in w for r, w in facts.unknowns if r == RULE)


def test_pregabalin_is_judged_only_when_switched_on():
    draft = order("pregabalin 150 MG Oral Capsule", rxnorm="483440", per_day=2)
    assert findings(draft, [egfr(25)])[0] == []
    [f], _ = findings(draft, [egfr(25)], check_pregabalin=True)
    assert (f.variant, f.fields["band_row"], f.fields["band_max_mg"]) == ("pregabalin", "15–30", "150")


def test_products_with_their_own_label_are_not_judged():
    once_daily = order("Once-Daily gabapentin 600 MG Oral Tablet", rxnorm="1806382", dose=3, per_day=1)
    enacarbil = order("gabapentin enacarbil 300 MG Extended Release Oral Tablet", rxnorm="1482820", dose=2, per_day=2)
    assert findings(once_daily, [egfr(20)])[0] == [] and findings(enacarbil, [egfr(20)])[0] == []


def test_dialysis_diagnosis_adds_the_supplement_sentence():
    esrd = condition("236435004", "End stage renal failure on dialysis", system=SNOMED)
    [f], _ = findings(gabapentin(per_day=1), [egfr(8)], conditions=[esrd])
    assert f.fields["dialysis"] == "gabapentin" and f.fields["supplement_range"] == "125–350"
    [f], _ = findings(gabapentin(per_day=1), [egfr(8)])
    assert f.fields["dialysis"] == ""


def test_unreadable_schedule_is_not_judged_and_a_liquid_gets_no_order():
    found, facts = findings(gabapentin(per_day=None), [egfr(20)])
    assert found == [] and any(w.startswith("daily dose:") for r, w in facts.unknowns if r == RULE)
    solution = order("gabapentin 50 MG/ML Oral Solution", rxnorm="283523", dose=6, unit="mL", per_day=3)
    [f], _ = findings(solution, [egfr(20)])
    assert f.fields["daily_mg"] == "900" and f.suggestions == ()
