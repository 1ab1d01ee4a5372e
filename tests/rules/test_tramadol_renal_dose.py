"""tramadol-renal-dose: CrCl below 30 (not at 30), the 12-hour interval and 200 mg/day for immediate release
(combinations included), any extended release, unknown renal function, the suggestions."""
from __future__ import annotations

from datetime import timedelta

from facts_builder import SNOMED, TODAY, condition, lab, order, patient_facts, run

RULE = "tramadol-renal-dose"
IR_50 = ("tramadol hydrochloride 50 MG Oral Tablet", "835603")


def tramadol(product=IR_50, dose: float = 1, per_day: float | None = 4, **kw):
    return order(product[0], rxnorm=product[1], dose=dose, per_day=per_day, **kw)


def egfr(value: float):
    return lab("98979-8", value, "mL/min/{1.73_m2}", display="eGFR", when=TODAY - timedelta(days=5))


def findings(draft, observations, conditions=(), **kw):
    facts = patient_facts(drafts=[draft], observations=list(observations), conditions=list(conditions), **kw)
    return run(RULE, facts), facts


def test_every_6_hours_below_30_fires_and_offers_the_same_tablet_every_12_hours():
    [f], _ = findings(tramadol(prn=True), [egfr(22)])
    assert (f.fields["why"], f.fields["drafted_interval"], f.fields["daily_mg"]) == ("interval", "every 6 hours", "200")
    assert f.suggestions == ("every-12-hours-prn",)  # as needed stays as needed
    assert (f.fields["units_per_dose"], f.fields["new_daily_mg"]) == (1, "100")  # never more per dose than drafted


def test_every_12_hours_within_200_mg_is_silent():
    assert findings(tramadol(dose=2, per_day=2), [egfr(20)])[0] == []


def test_above_200_mg_a_day_every_12_hours_fires_and_is_capped():
    [f], _ = findings(tramadol(("tramadol hydrochloride 100 MG Oral Tablet", "2179635"), dose=2, per_day=2), [egfr(20)])
    assert (f.fields["why"], f.fields["daily_mg"]) == ("dose", "400")
    assert (f.suggestions, f.fields["units_per_dose"], f.fields["new_daily_mg"]) == (("every-12-hours",), 1, "200")


def test_crcl_of_30_is_not_below_30():
    assert findings(tramadol(), [egfr(30)])[0] == []
    assert len(findings(tramadol(), [egfr(29.9)])[0]) == 1


def test_cockcroft_gault_is_preferred_to_egfr():
    # (140 - 78) x 58 / (72 x 1.9) x 0.85 = 22.3 mL/min, although the eGFR reads 40
    observations = [lab("2160-0", 1.9, "mg/dL"), lab("29463-7", 58, "kg"), egfr(40)]
    [f], _ = findings(tramadol(), observations, age=78, gender="female")
    assert (f.fields["crcl"], f.fields["renal_method"]) == ("22.3", "cockcroft-gault")


def test_unknown_renal_function_is_silent_and_logged():
    found, facts = findings(tramadol(), [])
    assert found == [] and any(r == RULE and w.startswith("renal function:") for r, w in facts.unknowns)


def test_tramadol_acetaminophen_counts_the_tramadol():
    ultracet = ("acetaminophen 325 MG / tramadol hydrochloride 37.5 MG Oral Tablet", "836395")
    [f], _ = findings(tramadol(ultracet, dose=2, per_day=3), [egfr(18)])
    assert (f.fields["why"], f.fields["daily_mg"]) == ("both", "225")
    assert (f.fields["units_per_dose"], f.fields["new_daily_mg"]) == (2, "150")


def test_extended_release_fires_below_30_and_is_replaced_by_immediate_release():
    er_300 = ("24 HR tramadol hydrochloride 300 MG Extended Release Oral Tablet", "833713")
    [f], _ = findings(tramadol(er_300, per_day=1), [egfr(25)])
    assert (f.variant, f.suggestions) == ("er", ("replace-er-with-ir",))
    assert (f.fields["ir_units"], f.fields["new_daily_mg"]) == (2, "200")  # 300 mg/day capped at 200
    assert findings(tramadol(er_300, per_day=1), [egfr(35)])[0] == []


def test_extended_release_with_an_unreadable_dose_is_removed_without_a_replacement():
    er_100 = ("24 HR tramadol hydrochloride 100 MG Extended Release Oral Tablet", "833709")
    [f], _ = findings(tramadol(er_100, per_day=None), [egfr(25)])
    assert (f.variant, f.suggestions) == ("er", ("remove-er",))


def test_a_liquid_is_flagged_without_an_order_and_dialysis_adds_the_label_sentence():
    solution = order("tramadol hydrochloride 5 MG/ML Oral Solution", rxnorm="2395808", dose=10, unit="mL", per_day=4)
    dialysis = condition("236435004", "End stage renal failure on dialysis", system=SNOMED)
    [f], _ = findings(solution, [egfr(10)], conditions=[dialysis])
    assert (f.fields["daily_mg"], f.suggestions, f.fields["dialysis"]) == ("200", (), "dialysis")
