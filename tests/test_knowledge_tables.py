"""Table-driven checks of the medication knowledge a pharmacist would do by hand: each drug class, each dosage
shape, MME for each opioid, and each FDA opioid-tolerance threshold."""
from __future__ import annotations

from datetime import date

import pytest

from cds_service.fhir.versions import normalize_dosage, to_r4
from cds_service.knowledge.dosing import daily_dose
from cds_service.knowledge.drugs import DrugKnowledge
from cds_service.knowledge.exposure import assess_opioid_tolerance
from cds_service.knowledge.medication import MedicationUse
from cds_service.knowledge.mme import daily_mme

K = DrugKnowledge.load()
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
TODAY = date(2026, 11, 22)


def by_code(code):
    return K.identify({"coding": [{"system": RX, "code": code}]})


def by_text(text):
    return K.identify({"text": text})


def tablets(n=1, per_day=1, code="{tbl}", prn=False):
    d = {"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
         "doseAndRate": [{"doseQuantity": {"value": n, "code": code}}]}
    if prn:
        d["asNeededBoolean"] = True
    return [d]


def every(hours, n=1, code="{tbl}", prn=False):
    d = {"timing": {"repeat": {"frequency": 1, "period": hours, "periodUnit": "h"}},
         "doseAndRate": [{"doseQuantity": {"value": n, "code": code}}]}
    if prn:
        d["asNeededBoolean"] = True
    return [d]


def current(product, dosages, start=date(2026, 10, 1), ref="MedicationRequest/a"):
    return MedicationUse(ref, "MedicationRequest", "current", product.name, product,
                         {"dosageInstruction": dosages}, start, None, "active")


# -- each class, on real product codes (eCQM value sets) or RxNorm names an EHR sends as text ----------------------
CLASS_CASES = [
    # (code or None, text or None, ingredient that must be found, classes it must have, classes it must not have)
    ("897696", None, "hydromorphone", {"opioid"}, set()),
    ("977942", None, "oxymorphone", {"opioid"}, set()),
    ("825411", None, "tapentadol", {"opioid", "serotonergic_opioid"}, set()),
    ("993781", None, "codeine", {"opioid", "non_opioid_analgesic"}, set()),
    ("856999", None, "hydrocodone", {"opioid"}, set()),
    ("864718", None, "methadone", {"opioid", "long_acting_opioid"}, set()),
    ("197873", None, "levorphanol", {"opioid"}, set()),
    ("668363", None, "fentanyl", {"opioid"}, set()),
    ("904870", None, "buprenorphine", {"opioid", "partial_agonist"}, set()),
    ("1115573", None, "fentanyl", {"opioid"}, set()),
    ("313580", None, "venlafaxine", {"snri"}, set()),
    ("833135", None, "milnacipran", {"snri"}, set()),
    (None, "desvenlafaxine 50 MG Extended Release Oral Tablet", "desvenlafaxine", {"snri"}, set()),
    ("310385", None, "fluoxetine", {"ssri"}, set()),
    ("312242", None, "paroxetine", {"ssri"}, set()),
    ("200371", None, "citalopram", {"ssri"}, set()),
    ("349332", None, "escitalopram", {"ssri"}, set()),
    ("856792", None, "amitriptyline", {"tca", "benzodiazepine"}, set()),
    ("1099288", None, "desipramine", {"tca"}, set()),
    ("835564", None, "imipramine", {"tca"}, set()),
    ("966787", None, "doxepin", {"tca"}, set()),
    ("857297", None, "clomipramine", {"tca"}, set()),
    (None, "nortriptyline hydrochloride 25 MG Oral Capsule", "nortriptyline", {"tca"}, set()),
    ("859186", None, "selegiline", {"maoi"}, set()),
    ("311345", None, "linezolid", {"maoi"}, set()),
    ("313447", None, "tranylcypromine", {"maoi"}, set()),
    (None, "methylene blue 5 MG/ML Injectable Solution", "methylene blue", {"maoi"}, set()),
    (None, "sumatriptan 50 MG Oral Tablet", "sumatriptan", {"triptan"}, set()),
    (None, "rizatriptan 10 MG Disintegrating Oral Tablet", "rizatriptan", {"triptan"}, set()),
    ("856377", None, "trazodone", {"other_serotonergic"}, set()),
    ("283406", None, "mirtazapine", {"other_serotonergic"}, set()),
    (None, "lithium carbonate 300 MG Oral Capsule", "lithium", {"other_serotonergic"}, set()),
    (None, "dextromethorphan hydrobromide 30 MG Oral Capsule", "dextromethorphan", {"other_serotonergic"}, set()),
    ("483440", None, "pregabalin", {"gabapentinoid"}, set()),
    ("310433", None, "gabapentin", {"gabapentinoid"}, set()),
    ("197527", None, "clonazepam", {"benzodiazepine"}, set()),
    ("197591", None, "diazepam", {"benzodiazepine"}, set()),
    ("198241", None, "temazepam", {"benzodiazepine"}, set()),
    ("836641", None, "zolpidem", {"z_drug"}, {"benzodiazepine"}),
    ("485440", None, "eszopiclone", {"z_drug"}, set()),
    ("197446", None, "carisoprodol", {"muscle_relaxant"}, set()),
    ("828299", None, "cyclobenzaprine", {"muscle_relaxant"}, set()),
    (None, "baclofen 10 MG Oral Tablet", "baclofen", {"muscle_relaxant"}, set()),
    (None, "sennosides, USP 8.6 MG Oral Tablet", "sennosides", {"laxative"}, set()),
    (None, "bisacodyl 5 MG Delayed Release Oral Tablet", "bisacodyl", {"laxative"}, set()),
    (None, "polyethylene glycol 3350 17000 MG Powder for Oral Solution", "polyethylene glycol 3350", {"laxative"}, set()),
    (None, "lactulose 667 MG/ML Oral Solution", "lactulose", {"laxative"}, set()),
    (None, "docusate sodium 100 MG Oral Capsule", "docusate", {"stool_softener"}, {"laxative"}),
    (None, "naldemedine 0.2 MG Oral Tablet", "naldemedine", {"pamora", "laxative"}, {"opioid_antagonist", "opioid"}),
    (None, "methylnaltrexone bromide 12 MG/0.6ML Prefilled Syringe", "methylnaltrexone", {"pamora", "laxative"},
     {"opioid_antagonist"}),
    (None, "olanzapine 10 MG / samidorphan 10 MG Oral Tablet", "samidorphan", {"opioid_antagonist"}, set()),
    (None, "12 HR bupropion hydrochloride 90 MG / naltrexone hydrochloride 8 MG Extended Release Oral Tablet",
     "naltrexone", {"opioid_antagonist"}, {"opioid"}),
    ("199059", None, "nalmefene", {"naloxone_rescue"}, {"opioid_antagonist"}),
    (None, "naloxone hydrochloride 0.4 MG/ML Injectable Solution", "naloxone", {"naloxone_rescue"}, set()),
    ("1010603", None, "naloxone", {"opioid"}, {"naloxone_rescue", "opioid_antagonist"}),
    (None, "lidocaine 0.05 MG/MG Medicated Patch", "lidocaine", {"local_anesthetic"}, {"opioid"}),
    (None, "OXYCODONE HCL 5 MG TAB", "oxycodone", {"opioid"}, set()),
    (None, "Percocet 5/325 (oxycodone and acetaminophen)", "oxycodone", {"opioid"}, set()),
]


@pytest.mark.parametrize("code, text, ingredient, has, has_not", CLASS_CASES,
                         ids=[f"{c or ''}{t or ''}"[:60] for c, t, *_ in CLASS_CASES])
def test_class_of_each_drug(code, text, ingredient, has, has_not):
    product = by_code(code) if code else by_text(text)
    assert product is not None
    assert ingredient in product.ingredient_names
    assert has <= product.classes
    assert not (has_not & product.classes)


# -- each dosage shape ---------------------------------------------------------------------------------------------
OXY5 = "1049621"
OXY_SOLUTION = "1049604"  # oxycodone hydrochloride 1 MG/ML Oral Solution
FENTANYL_NASAL = "1115573"  # fentanyl 0.1 MG/ACTUAT Metered Dose Nasal Spray


def dose_of(repeat=None, dose=None, extra=None, timing_code=None):
    d = {}
    if repeat is not None or timing_code:
        d["timing"] = {}
        if repeat is not None:
            d["timing"]["repeat"] = repeat
        if timing_code:
            d["timing"]["code"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation",
                                               "code": timing_code}]}
    if dose is not None:
        d["doseAndRate"] = [{"doseQuantity": dose}]
    d.update(extra or {})
    return d


SHAPES = [
    # (product code, [dosage], ingredient mg/day)
    (OXY5, [dose_of({"frequency": 1, "period": 240, "periodUnit": "min"}, {"value": 1, "code": "{tbl}"})], 30),
    (OXY5, [dose_of({"frequency": 1, "period": 21600, "periodUnit": "s"}, {"value": 1, "code": "{tbl}"})], 20),
    (OXY5, [dose_of({"frequency": 60, "period": 1, "periodUnit": "mo"}, {"value": 1, "code": "{tbl}"})], 10),
    (OXY5, [dose_of({"frequency": 365, "period": 1, "periodUnit": "a"}, {"value": 2, "code": "{tbl}"})], 10),
    (OXY5, [dose_of({"frequency": 3, "period": 1, "periodUnit": "wk"}, {"value": 7, "code": "{tbl}"})], 15),
    (OXY5, [dose_of({"timeOfDay": ["08:00:00", "14:00:00", "20:00:00"]}, {"value": 1, "code": "{tbl}"})], 15),
    (OXY5, [dose_of({"when": ["MORN", "AFT", "EVE", "HS"]}, {"value": 1, "code": "{tbl}"})], 20),
    (OXY5, [dose_of(None, {"value": 1, "code": "{tbl}"}, timing_code="QID")], 20),
    (OXY5, [dose_of(None, {"value": 1, "code": "{tbl}"}, timing_code="Q4H")], 30),
    (OXY5, [dose_of({"frequency": 1, "period": 4, "periodMax": 6, "periodUnit": "h"}, {"value": 1, "code": "{tbl}"},
                    {"asNeededBoolean": True})], 30),  # q4-6h PRN: at most every 4 h
    (OXY5, [dose_of({"frequency": 1, "frequencyMax": 2, "period": 4, "periodUnit": "h"}, {"value": 1, "code": "{tbl}"},
                    {"asNeededCodeableConcept": {"text": "pain"}})], 60),
    (OXY5, [dose_of({"frequency": 1, "period": 3, "periodUnit": "h"}, {"value": 1, "code": "{tbl}"},
                    {"maxDosePerPeriod": {"numerator": {"value": 30, "code": "mg"},
                                          "denominator": {"value": 1, "code": "d"}}})], 30),  # cap in mg on tablets
    (OXY5, [dose_of({"frequency": 1, "period": 3, "periodUnit": "h"}, {"value": 1, "code": "{tbl}"},
                    {"maxDosePerPeriod": [{"numerator": {"value": 6, "code": "{tbl}"},
                                           "denominator": {"value": 24, "code": "h"}}]})], 30),  # R5 list, per 24 h
    (OXY5, [dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 5000, "code": "ug"})], 10),
    (OXY5, [dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 0.005, "code": "g"})], 10),
    (OXY5, [dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 5, "unit": "mg"})], 10),  # unit text
    (OXY5, [dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 1, "unit": "tablet"})], 10),
    (OXY5, [dose_of({"frequency": 4, "period": 1, "periodUnit": "d"}, {"value": 1, "code": "{capsule}"})], 20),
    (OXY_SOLUTION, [dose_of({"frequency": 1, "period": 4, "periodUnit": "h"}, {"value": 5, "code": "mL"})], 30),
    (OXY_SOLUTION, [dose_of({"frequency": 1, "period": 4, "periodUnit": "h"}, {"value": 5, "unit": "mg"})], 30),
    (FENTANYL_NASAL, [dose_of({"frequency": 1, "period": 4, "periodUnit": "h"}, {"value": 1, "code": "{actuat}"})], 0.6),
    (OXY5, [dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 1, "code": "{tbl}"}, {"sequence": 1}),
            dose_of({"frequency": 1, "period": 1, "periodUnit": "d"}, {"value": 2, "code": "{tbl}"}, {"sequence": 1})],
     20),  # same sequence: taken together
    (OXY5, [dose_of({"frequency": 4, "period": 1, "periodUnit": "d"}, {"value": 1, "code": "{tbl}"}, {"sequence": 1}),
            dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 1, "code": "{tbl}"}, {"sequence": 2})],
     20),  # taper: the highest step
    (OXY5, [normalize_dosage({"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnits": "d"}},
                              "doseQuantity": {"value": 2, "code": "{tbl}"}})], 30),  # DSTU2 shape
    (OXY5, [normalize_dosage({"timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                              "doseRange": {"low": {"value": 1, "code": "{tbl}"},
                                            "high": {"value": 2, "code": "{tbl}"}}})], 30),  # STU3 shape
    (OXY5, [normalize_dosage({"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnits": "d",
                                                     "when": "HS"}},
                              "quantityQuantity": {"value": 1, "code": "{tbl}"}})], 10),  # DSTU2 statement
]


@pytest.mark.parametrize("code, dosages, mg_per_day", SHAPES)
def test_daily_dose_of_each_dosage_shape(code, dosages, mg_per_day):
    product = by_code(code)
    dose = daily_dose(dosages, product)
    assert dose.complete, dose.problem
    assert dose.ingredients[0].mg_per_day == pytest.approx(mg_per_day)


@pytest.mark.parametrize("dosages, problem", [
    ([{"text": "1-2 tabs prn"}], "free-text"),
    ([dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 1, "code": "mL"})], "does not fit"),
    ([dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": "one", "code": "{tbl}"})], "numeric"),
    ([dose_of({"frequency": 2, "period": 1, "periodUnit": []}, {"value": 1, "code": "{tbl}"})], "could not be read"),
    ([], "no dosage"),
    ([dose_of(None, {"value": 2, "code": "{tbl}"})], "schedule not stated"),  # never a silent once a day (clinical-rules §5)
    # A code and a unit text that disagree (1 "mg" or 1 "tablet" of 5 mg?) and a dose with no unit at all
    # ("10" of a 10 mg tablet: ten tablets or 10 mg?) cannot be read with certainty.
    ([dose_of({"frequency": 2, "period": 1, "periodUnit": "d"}, {"value": 1, "code": "mg", "unit": "tablet"})],
     "does not fit"),
    ([dose_of({"frequency": 4, "period": 1, "periodUnit": "d"}, {"value": 10})], "does not fit"),
])
def test_unreadable_doses_are_incomplete_with_a_reason(dosages, problem):
    dose = daily_dose(dosages, by_code(OXY5))
    assert not dose.complete and problem in dose.problem
    assert dose.ingredients[0].mg_per_day is None


def test_combination_dose_in_mg_is_ambiguous_and_incomplete():
    dose = daily_dose([dose_of({"frequency": 4, "period": 1, "periodUnit": "d"}, {"value": 5, "code": "mg"})],
                      by_code("1049221"))
    assert not dose.complete


# -- MME for each opioid (CDC 2022 factors) -------------------------------------------------------------------------
MME_CASES = [
    ("897696", every(4), 60),  # hydromorphone 2 mg q4h = 12 mg x 5
    ("977942", every(12), 60),  # oxymorphone 10 mg q12h = 20 mg x 3
    ("825411", every(6), 80),  # tapentadol 50 mg q6h = 200 mg x 0.4
    ("993781", every(6), 18),  # codeine 30 mg q6h = 120 mg x 0.15
    ("856999", every(6), 40),  # hydrocodone 10 mg q6h = 40 mg x 1
    ("864718", tablets(1, 3), 70.5),  # methadone 5 mg TID = 15 mg x 4.7
    ("891885", every(12), 60),  # morphine ER 30 mg q12h
    ("835603", every(4, prn=True), 60),  # tramadol 50 mg q4h PRN = 300 mg x 0.2
    ("245136", every(72, code="{patch}"), 240),  # fentanyl 100 mcg/h
    ("245135", every(72, n=2, code="{patch}"), 240),  # two 50 mcg/h patches
    ("1049599", every(12), 240),  # oxycodone ER 80 mg q12h = 160 mg x 1.5
    ("892589", [dose_of({"frequency": 1, "period": 4, "periodUnit": "h"}, {"value": 5, "code": "mL"})], 60),
]


@pytest.mark.parametrize("code, dosages, mme", MME_CASES)
def test_mme_per_opioid(code, dosages, mme):
    assert daily_mme([current(by_code(code), dosages)]).total == pytest.approx(mme)


@pytest.mark.parametrize("code, reason", [
    ("197873", "no CDC 2022 conversion factor"),  # levorphanol
    ("668363", "transdermal fentanyl only"),  # buccal fentanyl
])
def test_opioids_without_a_cdc_factor_are_flagged_not_guessed(code, reason):
    total = daily_mme([current(by_code(code), tablets(1, 2))])
    assert total.total == 0 and total.lines[0].mme_per_day is None and reason in total.lines[0].reason


def test_total_sums_several_opioids_and_skips_buprenorphine():
    meds = [current(by_code("891885"), every(12), ref="MedicationRequest/a"),
            current(by_code("1049621"), every(6, prn=True), ref="MedicationRequest/b"),
            current(by_code("904870"), every(168, code="{patch}"), ref="MedicationRequest/c")]
    assert daily_mme(meds).total == pytest.approx(60 + 30)


def test_acetaminophen_in_a_combination_is_not_an_opioid_line():
    lines = daily_mme([current(by_code("1049221"), every(6))]).lines
    assert [line.ingredient for line in lines] == ["oxycodone"]


# -- FDA tolerance thresholds (docs/clinical-rules.md §1.4) -------------------------------------------------------------------------
TOLERANCE_CASES = [
    ("897696", every(6), True),  # hydromorphone 8 mg/day = threshold
    ("897696", every(8), False),  # 6 mg/day
    ("977942", [dose_of({"frequency": 5, "period": 2, "periodUnit": "d"}, {"value": 1, "code": "{tbl}"})], True),  # 25 mg
    ("977942", tablets(1, 2), False),  # oxymorphone 20 mg/day
    ("856999", every(4), True),  # hydrocodone 60 mg/day
    ("856999", every(6), False),  # 40 mg/day
    ("892672", tablets(1, 2), True),  # morphine 60 mg/day
    ("892582", tablets(1, 3), False),  # morphine 45 mg/day
    ("245134", every(72, code="{patch}"), True),  # fentanyl 25 mcg/h
    ("577057", every(72, code="{patch}"), False),  # fentanyl 12 mcg/h
    ("1049621", every(4), True),  # oxycodone 30 mg/day (45 MME, still tolerant)
    ("864706", tablets(1, 2), True),  # methadone 20 mg/day = 94 MME
    ("835603", every(4), True),  # tramadol 300 mg/day = 60 MME
    ("835603", every(6), False),  # tramadol 200 mg/day = 40 MME
    ("993781", every(4), False),  # codeine 180 mg/day = 27 MME
    ("1010603", tablets(1, 2, "{film}"), False),  # buprenorphine: no conversion, not established
]


@pytest.mark.parametrize("code, dosages, tolerant", TOLERANCE_CASES)
def test_tolerance_threshold_per_drug(code, dosages, tolerant):
    med = current(by_code(code), dosages, start=date(2026, 11, 1))
    assert assess_opioid_tolerance([med], [med], TODAY).tolerant is tolerant


def test_an_as_needed_ceiling_is_not_tolerance():
    """FDA: tolerant patients are *taking* the dose. Oxycodone 5 mg every 4 hours as needed may reach 30 mg/day
    but says nothing of what is taken: tolerance is not established (scheduled, the same order is)."""
    prn = current(by_code("1049621"), every(4, prn=True), start=date(2026, 11, 1))
    result = assess_opioid_tolerance([prn], [prn], TODAY)
    assert not result.tolerant and "as needed" in result.lines[0].reason


def test_six_days_at_threshold_is_not_yet_tolerant():
    med = current(by_code("892672"), tablets(1, 2), start=date(2026, 11, 16))
    result = assess_opioid_tolerance([med], [med], TODAY)
    assert not result.tolerant and result.days_on_opioids == 6


def test_unknown_dose_does_not_count_towards_tolerance():
    med = current(by_code("892672"), [{"text": "take as directed"}])
    result = assess_opioid_tolerance([med], [med], TODAY)
    assert not result.tolerant and len(result.unknown) == 1


def test_dstu2_medication_order_reads_like_its_r4_equivalent():
    order = {"resourceType": "MedicationOrder", "id": "o1", "status": "active", "dateWritten": "2026-10-01",
             "patient": {"reference": "Patient/p"},
             "medicationCodeableConcept": {"coding": [{"system": RX, "code": "1049683"}]},
             "dosageInstruction": [{"timing": {"repeat": {"frequency": 4, "period": 1, "periodUnits": "d"}},
                                    "doseQuantity": {"value": 1, "code": "{tbl}"}}]}
    r4 = to_r4(order)
    assert r4["authoredOn"] == "2026-10-01" and r4["subject"] == {"reference": "Patient/p"}
    product = K.identify(r4["medicationCodeableConcept"])
    assert daily_dose(r4["dosageInstruction"], product).ingredients[0].mg_per_day == 40
