"""Drug identification, daily dose, MME and opioid tolerance, checked against the worked examples of docs/clinical-rules.md §1.3-1.4 and a pharmacist's arithmetic."""
from __future__ import annotations

import csv
from datetime import date

import pytest

from cds_service.fhir.versions import normalize_dosage
from cds_service.knowledge.dosing import daily_dose
from cds_service.knowledge.drugs import DATA, DrugKnowledge
from cds_service.knowledge.exposure import (assess_opioid_tolerance, continuous_opioid_days, is_opioid_naive,
                                            regimen_with_drafts)
from cds_service.knowledge.medication import MedicationUse
from cds_service.knowledge.mme import daily_mme

K = DrugKnowledge.load()
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
TODAY = date(2026, 11, 22)


def product(code=None, name=None):
    concept = {"coding": [{"system": RX, **({"code": code} if code else {}), **({"display": name} if name else {})}]}
    return K.identify(concept)


def sig(value=1, code="{tbl}", freq=None, period=1, unit="d", prn=False, **extra):
    repeat = {"period": period, "periodUnit": unit}
    if freq is not None:
        repeat["frequency"] = freq
    dosage = {"timing": {"repeat": repeat}, "doseAndRate": [{"doseQuantity": {"value": value, "code": code}}]}
    if prn:
        dosage["asNeededBoolean"] = True
    dosage.update(extra)
    return dosage


def use(prod, dosages, role="current", start=date(2026, 10, 1), end=None, ref="MedicationRequest/x", kind="MedicationRequest"):
    return MedicationUse(ref, kind, role, prod.name, prod, {"dosageInstruction": dosages}, start, end, "active")


# -- identification --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, name, ingredients, classes, route, er, patch", [
    ("245134", None, ["fentanyl"], {"opioid"}, "transdermal", False, True),
    (None, "72 HR fentanyl 0.025 MG/HR Transdermal System [Duragesic]", ["fentanyl"], {"opioid"}, "transdermal", False, True),
    (None, "72 hr FENTANYL 0.025 mg/hr transdermal patch", ["fentanyl"], {"opioid"}, "transdermal", False, True),
    ("1049502", None, ["oxycodone"], {"opioid"}, "oral", True, False),
    (None, "Oxycodone Hydrochloride 5 MG Oral Tablet", ["oxycodone"], {"opioid"}, "oral", False, False),
    ("1049221", None, ["acetaminophen", "oxycodone"], {"opioid", "non_opioid_analgesic"}, "oral", False, False),
    ("1010603", None, ["buprenorphine", "naloxone"], {"opioid", "partial_agonist"}, "sublingual", False, False),
    ("1725059", None, ["naloxone"], {"naloxone_rescue"}, "nasal", False, False),
    ("596934", None, ["duloxetine"], {"snri"}, "oral", False, False),
    (None, "duloxetine 60 MG Delayed Release Oral Capsule", ["duloxetine"], {"snri"}, "oral", False, False),
    ("835603", None, ["tramadol"], {"opioid", "serotonergic_opioid"}, "oral", False, False),
    ("1483744", None, ["naltrexone"], {"opioid_antagonist"}, "oral", False, False),
    (None, "methylnaltrexone bromide 150 MG Oral Tablet", ["methylnaltrexone"], {"pamora", "laxative"}, "oral", False, False),
    (None, "naloxegol oxalate 25 MG Oral Tablet", ["naloxegol"], {"pamora", "laxative"}, "oral", False, False),
    ("310431", None, ["gabapentin"], {"gabapentinoid"}, "oral", False, False),
    ("483450", None, ["pregabalin"], {"gabapentinoid"}, "oral", False, False),
    ("308048", None, ["alprazolam"], {"benzodiazepine"}, "oral", False, False),
    ("312347", None, ["phenelzine"], {"maoi"}, "oral", False, False),
    (None, "1 ML morphine sulfate 10 MG/ML Injection", ["morphine"], {"opioid"}, "injection", False, False),
    (None, "methadone hydrochloride 10 MG Oral Tablet", ["methadone"], {"opioid", "long_acting_opioid"}, "oral", False, False),
])
def test_drug_is_identified(code, name, ingredients, classes, route, er, patch):
    prod = product(code, name)
    assert prod is not None
    assert list(prod.ingredient_names) == ingredients
    assert classes <= prod.classes
    assert (prod.form.route, prod.form.extended_release, prod.form.patch) == (route, er, patch)


def test_buprenorphine_naloxone_is_not_naloxone_rescue_nor_an_antagonist():
    prod = product("1010603")
    assert not prod.has_class("naloxone_rescue", "opioid_antagonist")


@pytest.mark.parametrize("code, name, er_la", [
    ("1049502", None, True), ("245134", None, True), (None, "methadone hydrochloride 10 MG Oral Tablet", True),
    ("1049621", None, False), ("891885", None, True), ("892582", None, False),
])
def test_er_la_opioid_forms(code, name, er_la):
    assert product(code, name).is_er_la_opioid is er_la


def test_ingredient_code_alone_identifies_the_ingredient():
    prod = K.identify({"coding": [{"system": RX, "code": "7243"}]})
    assert prod.ingredient_names == ("naltrexone",)


def test_unknown_drug_is_none():
    assert K.identify({"coding": [{"system": RX, "code": "314076", "display": "lisinopril 10 MG Oral Tablet"}]}) is None


def test_medication_resource_ingredients_with_strength():
    medication = {"resourceType": "Medication", "ingredient": [{
        "itemCodeableConcept": {"coding": [{"system": RX, "code": "7804", "display": "oxycodone"}]},
        "strength": {"numerator": {"value": 10, "code": "mg"}, "denominator": {"value": 1, "code": "{tbl}"}}}]}
    prod = K.identify(None, medication)
    dose = daily_dose([sig(1, freq=4)], prod)
    assert dose.for_ingredient("oxycodone").mg_per_day == 40


def test_product_table_names_parse_to_ingredient_strength_and_form():
    """Coverage over the whole generated product table; every miss is listed in the failure message."""
    with (DATA / "products.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(line for line in fh if not line.startswith("#")))
    misses = []
    for row in rows:
        prod = K.product_from_name(row["name"])
        if not (prod and all(c.strength_mg is not None for c in prod.components)):
            misses.append(row["name"])
    share = 1 - len(misses) / len(rows)
    assert share >= 0.99, f"{share:.2%} identified; misses: {misses}"


# -- daily dose ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, dosages, ingredient, mg_per_day", [
    ("1049683", [sig(1, freq=4)], "oxycodone", 40),  # 10 mg QID
    ("1049502", [sig(1, freq=1, period=12, unit="h")], "oxycodone", 20),  # ER 10 mg q12h
    ("1049621", [sig(2, "{pill}", freq=4)], "oxycodone", 40),  # sandbox: 2 x 5 mg QID
    ("1049621", [sig(1, freq=1, period=4, unit="h", prn=True)], "oxycodone", 30),  # q4h PRN at max frequency
    ("1049621", [sig(1, freq=1, period=4, unit="h", prn=True,
                     maxDosePerPeriod={"numerator": {"value": 4, "code": "{tbl}"},
                                       "denominator": {"value": 1, "code": "d"}})], "oxycodone", 20),
    ("1049621", [{"timing": {"repeat": {"frequency": 1, "frequencyMax": 2, "period": 6, "periodUnit": "h"}},
                  "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}], "oxycodone", 40),
    ("1049621", [{"timing": {"repeat": {"when": ["MORN", "HS"]}},
                  "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}], "oxycodone", 10),
    ("1049621", [{"timing": {"code": {"coding": [{"code": "TID"}]}},
                  "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}], "oxycodone", 15),
    ("1049621", [{"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
                  "doseAndRate": [{"doseRange": {"low": {"value": 1, "code": "{tbl}"},
                                                 "high": {"value": 2, "code": "{tbl}"}}}]}], "oxycodone", 40),
    ("1049621", [{"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                  "doseAndRate": [{"doseQuantity": {"value": 10, "unit": "mg"}}]}], "oxycodone", 30),
    ("1049621", [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}},
                  "doseAndRate": [{"doseQuantity": {"value": 7, "code": "{tbl}"}}]}], "oxycodone", 5),
    ("1049221", [sig(1, freq=1, period=6, unit="h")], "acetaminophen", 1300),
    ("1049221", [sig(1, freq=1, period=6, unit="h")], "oxycodone", 20),
    ("1049621", [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                  "doseAndRate": [
                      {"type": {"coding": [{"code": "calculated"}]}, "doseQuantity": {"value": 5, "code": "{tbl}"}},
                      {"type": {"coding": [{"code": "ordered"}]}, "doseQuantity": {"value": 1, "code": "{tbl}"}}]}],
     "oxycodone", 10),
])
def test_daily_dose(code, dosages, ingredient, mg_per_day):
    dose = daily_dose(dosages, product(code))
    assert dose.complete
    assert dose.for_ingredient(ingredient).mg_per_day == pytest.approx(mg_per_day)


def test_dstu2_dosage_shape_gives_the_same_dose():
    dstu2 = {"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnits": "d"}},
             "doseQuantity": {"value": 1, "code": "{tbl}"}}
    dose = daily_dose([normalize_dosage(dstu2)], product("1049683"))
    assert dose.for_ingredient("oxycodone").mg_per_day == 40


def test_free_text_sig_is_incomplete_not_zero():
    dose = daily_dose([{"text": "take as directed"}], product("1049683"))
    assert not dose.complete
    assert dose.for_ingredient("oxycodone").mg_per_day is None
    assert "free-text" in dose.problem


def test_tablet_dose_of_an_ingredient_only_drug_is_incomplete():
    prod = K.identify({"coding": [{"system": RX, "code": "7804"}]})
    assert not daily_dose([sig(1, freq=4)], prod).complete


@pytest.mark.parametrize("code, patches, mcg_per_hour", [("245134", 1, 25), ("197696", 1, 75), ("245134", 2, 50),
                                                         ("577057", 1, 12)])
def test_patch_rate_whatever_the_change_interval(code, patches, mcg_per_hour):
    dose = daily_dose([sig(patches, "{patch}", freq=1, period=72, unit="h")], product(code))
    assert dose.for_ingredient("fentanyl").mcg_per_hour == pytest.approx(mcg_per_hour)


# -- MME (docs/clinical-rules.md §1.3 worked checks) ----------------------------------------------------------------------------------
@pytest.mark.parametrize("code, name, dosages, mme", [
    ("197696", None, [sig(1, "{patch}", freq=1, period=72, unit="h")], 180),  # fentanyl 75 mcg/h
    ("245134", None, [sig(1, "{patch}", freq=1, period=72, unit="h")], 60),  # fentanyl 25 mcg/h
    (None, "72 HR fentanyl 0.0375 MG/HR Transdermal System", [sig(1, "{patch}", freq=1, period=72, unit="h")], 90),
    ("1049502", None, [sig(1, freq=2)], 30),  # oxycodone ER 10 mg BID
    ("1049683", None, [sig(1, freq=4)], 60),  # oxycodone 10 mg QID
    (None, "methadone hydrochloride 10 MG Oral Tablet", [sig(2, freq=3)], 282),  # 60 mg/day x 4.7
    ("835603", None, [sig(1, freq=1, period=6, unit="h")], 40),  # tramadol 200 mg x 0.2
    ("892582", None, [sig(1, freq=2)], 30),
])
def test_daily_mme(code, name, dosages, mme):
    assert daily_mme([use(product(code, name), dosages)]).total == pytest.approx(mme)


def test_buprenorphine_is_never_summed():
    total = daily_mme([use(product("1010603"), [sig(1, "{film}", freq=2)])])
    assert total.total == 0 and total.lines == ()


def test_injectable_opioid_is_reported_as_not_convertible():
    prod = product(None, "1 ML morphine sulfate 10 MG/ML Injection")
    total = daily_mme([use(prod, [sig(1, "mL", freq=4)])])
    assert total.lines[0].mme_per_day is None and "oral" in total.lines[0].reason


# -- opioid exposure ---------------------------------------------------------------------------------------------------
def test_tolerant_on_60mg_morphine_for_two_weeks():
    current = [use(product("892672"), [sig(1, freq=2)], start=date(2026, 11, 8))]
    assert assess_opioid_tolerance(current, current, TODAY).tolerant


def test_thirty_mg_oxycodone_is_tolerant_though_only_45_mme():
    current = [use(product("1049621"), [sig(1, freq=6)], start=date(2026, 10, 1))]
    result = assess_opioid_tolerance(current, current, TODAY)
    assert result.tolerant and result.fraction == pytest.approx(1.0)


def test_not_tolerant_below_threshold_or_too_short():
    below = [use(product("1049621"), [sig(1, freq=4)], start=date(2026, 10, 1))]  # 20 mg oxycodone
    short = [use(product("1049683"), [sig(1, freq=4)], start=date(2026, 11, 19))]  # 40 mg for 3 days
    assert not assess_opioid_tolerance(below, below, TODAY).tolerant
    result = assess_opioid_tolerance(short, short, TODAY)
    assert not result.tolerant and result.days_on_opioids == 3


def test_several_opioids_combine_as_the_sum_of_fractions():
    oxy = use(product("1049621"), [sig(1, freq=3)], ref="MedicationRequest/a")  # 15/30 = 0.5
    morphine = use(product("892582"), [sig(1, freq=2)], ref="MedicationRequest/b")  # 30/60 = 0.5
    assert assess_opioid_tolerance([oxy, morphine], [oxy, morphine], TODAY).tolerant


def test_request_and_its_dispense_are_one_therapy():
    request = use(product("1049621"), [sig(1, freq=4)], ref="MedicationRequest/a")  # 20 mg
    dispense = use(product("1049621"), [sig(1, freq=4)], ref="MedicationDispense/b", kind="MedicationDispense")
    assert not assess_opioid_tolerance([request, dispense], [request, dispense], TODAY).tolerant


def test_continuous_run_joins_back_to_back_dispenses():
    first = use(product("1049683"), [sig(1, freq=4)], role="history", start=date(2026, 9, 24), end=date(2026, 10, 23))
    second = use(product("1049683"), [sig(1, freq=4)], start=date(2026, 10, 24), end=date(2026, 11, 22))
    assert continuous_opioid_days([first, second], TODAY) == 59


def test_gap_breaks_the_run():
    old = use(product("1049683"), [sig(1, freq=4)], role="history", start=date(2026, 8, 1), end=date(2026, 8, 30))
    recent = use(product("1049683"), [sig(1, freq=4)], start=date(2026, 11, 19))
    assert continuous_opioid_days([old, recent], TODAY) == 3


def test_naive_means_no_opioid_in_90_days_ignoring_today():
    old = use(product("1049621"), [sig(1, freq=4)], role="history", start=date(2026, 7, 1), end=date(2026, 7, 10))
    recent = use(product("1049621"), [sig(1, freq=4)], role="history", start=date(2026, 10, 1), end=date(2026, 10, 5))
    today_only = use(product("1049621"), [sig(1, freq=4)], start=TODAY)
    assert is_opioid_naive([old, today_only], TODAY)
    assert not is_opioid_naive([recent], TODAY)


def test_draft_renewal_replaces_the_active_order_in_totals():
    current = use(product("1049502"), [sig(1, freq=2)], ref="MedicationRequest/er-10")
    renewal = MedicationUse("MedicationRequest/draft", "MedicationRequest", "draft", "x", product("1049563"),
                            {"dosageInstruction": [sig(1, freq=2)]}, TODAY, None, "draft",
                            prior_prescription="MedicationRequest/er-10")
    assert daily_mme(regimen_with_drafts([current], [renewal])).total == pytest.approx(60)  # 20 mg BID, not 90


def test_prn_breakthrough_draft_does_not_replace_a_scheduled_order():
    current = use(product("1049621"), [sig(1, freq=4)], ref="MedicationRequest/sched")
    prn = MedicationUse("MedicationRequest/prn", "MedicationRequest", "draft", "x", product("1049621"),
                        {"dosageInstruction": [sig(1, freq=1, period=6, unit="h", prn=True)]}, TODAY, None,
                        "draft")
    assert len(regimen_with_drafts([current], [prn])) == 2
