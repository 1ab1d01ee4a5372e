"""Medications as real EHRs send them (docs/clinical-rules.md §5): Epic's names and Medication resources, timing codes, Epic's
dose extensions, local unit systems, patch rates. Each case is what a pharmacist reads from the record; where a
value cannot be read with certainty the dose must be incomplete, never a confident wrong number."""
from __future__ import annotations

from datetime import date

import pytest

from conftest import load_json, post_hook, rule_ids
from cds_service.knowledge.dosing import daily_dose, doses_per_day, timing_code_doses
from cds_service.knowledge.drugs import DrugKnowledge
from cds_service.knowledge.exposure import distinct_therapies
from cds_service.knowledge.medication import MedicationUse

K = DrugKnowledge.load()
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
RX_OID = "urn:oid:2.16.840.1.113883.6.88"
EPIC_MED_OID = "urn:oid:1.2.840.114350.1.13.861.1.7.2.698288"
EPIC_FORM_OID = "urn:oid:1.2.840.114350.1.13.861.1.7.4.698288.310"


def comps(product):
    return [(c.ingredient.name, None if c.strength_mg is None else round(c.strength_mg, 6), c.per)
            for c in product.components]


# -- names in the styles the issue names -------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected, route, er, patch", [
    ("HYDROcodone-acetaminophen (NORCO) 5-325 MG per tablet",
     [("hydrocodone", 5, "unit"), ("acetaminophen", 325, "unit")], "oral", False, False),
    ("HYDROCODONE-ACETAMINOPHEN 5-325 MG PO TABS", [("hydrocodone", 5, "unit"), ("acetaminophen", 325, "unit")],
     "oral", False, False),
    ("FENTANYL 25 MCG/HR TD PT72", [("fentanyl", 0.025, "h")], "transdermal", False, True),
    ("fentaNYL (DURAGESIC) 25 mcg/hr patch", [("fentanyl", 0.025, "h")], "transdermal", False, True),
    ("morphine (MS CONTIN) 30 MG 12 hr tablet", [("morphine", 30, "unit")], "oral", True, False),
    ("OXYCODONE HCL 10 MG PO TABS", [("oxycodone", 10, "unit")], "oral", False, False),
    ("OXYCODONE HCL ER 20 MG PO TB12", [("oxycodone", 20, "unit")], "oral", True, False),
    ("oxyCODONE (ROXICODONE) 5 MG immediate release tablet", [("oxycodone", 5, "unit")], "oral", False, False),
    ("Percocet 5/325", [("acetaminophen", 325, "unit"), ("oxycodone", 5, "unit")], "oral", False, False),
    ("OxyContin 20 mg", [("oxycodone", 20, "unit")], "oral", True, False),
    ("Duragesic 25", [("fentanyl", 0.025, "h")], "transdermal", False, True),
    ("hydrocodone/apap 10/325", [("hydrocodone", 10, "unit"), ("acetaminophen", 325, "unit")], "", False, False),
    ("oxycodone 5 mg/5 mL oral solution", [("oxycodone", 1, "mL")], "oral", False, False),
    ("12 HR Oxycodone Hydrochloride 10 MG Extended Release Oral Tablet", [("oxycodone", 10, "unit")], "oral", True,
     False),
    ("traMADol (ULTRAM) 50 mg tablet", [("tramadol", 50, "unit")], "oral", False, False),
])
def test_names_in_ehr_styles(name, expected, route, er, patch):
    product = K.product_from_name(name)
    assert product is not None
    assert comps(product) == [(n, pytest.approx(s), p) for n, s, p in expected]
    assert (product.form.route, product.form.extended_release, product.form.patch) == (route, er, patch)


@pytest.mark.parametrize("name, why", [
    ("HYDROCODONE-ACETAMINOPHEN 325-5 MG PO TABS", "325 mg hydrocodone exists in no product: order as written fails"),
    ("Norco", "a brand alone names no strength"),
    ("Ultram", "a brand alone names no strength"),
    ("oxycodone 500 mg tablet", "beyond every oxycodone product's strength"),
    ("Percocet 5/800", "no oxycodone/acetaminophen product has these strengths"),
])
def test_strengths_that_cannot_be_read_with_certainty_stay_unknown(name, why):
    product = K.product_from_name(name)
    assert product is not None, why
    assert product.is_opioid
    assert all(c.strength_mg is None for c in product.components), why
    dose = daily_dose([{"timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}},
                        "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}], product)
    assert not dose.complete and "strength unknown" in dose.problem


def test_release_a_name_does_not_state_is_unknown_not_immediate():
    product = K.product_from_name("morphine 15 mg")
    assert product.form.release_known is False
    assert K.product_from_name("MORPHINE SULFATE 15 MG PO TABS").form.release_known is True


def test_brand_only_text_is_recognised_from_rxnorm_branded_names():
    assert K.product_from_name("Xanax 0.5").has_class("benzodiazepine")
    assert K.product_from_name("Lyrica 75 mg").has_class("gabapentinoid")
    assert K.product_from_name("Narcan nasal spray").has_class("naloxone_rescue")
    assert K.product_from_name("Ultram").has_class("serotonergic_opioid")


def test_a_brand_like_word_inside_other_text_is_not_a_brand():
    # Brands are matched at the start of the text or in brackets/parentheses only.
    assert K.product_from_name("take with Norco") is None


# -- sequestered naltrexone (RULES-WAVE2 4.1.7) ------------------------------------------------------------------
@pytest.mark.parametrize("name", [
    "Abuse-Deterrent 24 HR morphine sulfate 30 MG / naltrexone hydrochloride 1.2 MG Extended Release Oral Capsule [Embeda]",
    "morphine sulfate/naltrexone (EMBEDA) 30-1.2 MG ER capsule",
    "Abuse-Deterrent 12 HR naltrexone hydrochloride 1.2 MG / oxycodone hydrochloride 10 MG Extended Release Oral Capsule",
])
def test_sequestered_naltrexone_is_an_er_opioid_not_an_antagonist(name):
    product = K.product_from_name(name)
    assert product.is_er_la_opioid
    assert not product.has_class("opioid_antagonist")
    assert {"naltrexone"} < set(product.ingredient_names)


def test_low_dose_naltrexone_is_an_antagonist():
    assert K.product_from_name("naltrexone 4.5 mg capsule").has_class("opioid_antagonist")


# -- codes and Medication resources ------------------------------------------------------------------------------
def test_rxnorm_product_code_under_the_oid_system():
    product = K.identify({"coding": [{"system": RX_OID, "code": "245134"}]})
    assert product.is_fentanyl_patch and comps(product) == [("fentanyl", 0.025, "h")]


def test_epic_medication_with_five_codings_product_code_wins():
    medication = {"resourceType": "Medication", "code": {"coding": [
        {"system": "urn:oid:2.16.840.1.113883.6.253", "code": "00000"},
        {"system": "urn:oid:2.16.840.1.113883.6.68", "code": "65100020"},
        {"system": "urn:oid:2.16.840.1.113883.6.162", "code": "17117"},
        {"system": RX, "code": "7804"},
        {"system": RX, "code": "1049621"}], "text": "oxyCODONE (ROXICODONE) 5 MG immediate release tablet"}}
    product = K.identify(None, medication)
    assert comps(product) == [("oxycodone", 5, "unit")] and product.rxcui == "1049621"


def test_epic_strength_ratio_of_one_string_over_itself_is_read_from_its_unit():
    medication = {"resourceType": "Medication",
                  "code": {"coding": [{"system": EPIC_MED_OID, "code": "30131"}], "text": "fentanyl patch"},
                  "form": {"coding": [{"system": EPIC_FORM_OID, "code": "PT72", "display": "Patch 72 hr"}]},
                  "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RX, "code": "4337"}]},
                                  "strength": {"numerator": {"value": 25, "unit": "MCG/HR"},
                                               "denominator": {"value": 25, "unit": "MCG/HR"}}}]}
    product = K.identify(None, medication)
    assert product.is_fentanyl_patch and comps(product) == [("fentanyl", 0.025, "h")]


def test_epic_tablet_strength_of_one_mass_over_itself_is_per_tablet_not_one():
    """10 "MG" over 10 "MG" is Epic's 10 mg tablet; read as a ratio it was 1 mg, a tenth of the true dose."""
    medication = {"resourceType": "Medication",
                  "code": {"coding": [{"system": EPIC_MED_OID, "code": "5212"}],
                           "text": "HYDROcodone-acetaminophen (NORCO) 10-325 MG per tablet"},
                  "ingredient": [
                      {"itemCodeableConcept": {"coding": [{"system": RX, "code": "5489"}], "text": "hydrocodone"},
                       "strength": {"numerator": {"value": 10, "unit": "MG"}, "denominator": {"value": 10, "unit": "MG"}}},
                      {"itemCodeableConcept": {"coding": [{"system": RX, "code": "161"}], "text": "acetaminophen"},
                       "strength": {"numerator": {"value": 325, "unit": "MG"},
                                    "denominator": {"value": 325, "unit": "MG"}}}]}
    assert sorted(comps(K.identify(None, medication))) == [("acetaminophen", 325, "unit"), ("hydrocodone", 10, "unit")]


def test_a_mass_per_mass_ratio_is_no_strength_per_dose():
    medication = {"resourceType": "Medication", "code": {"text": "oxycodone"},
                  "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RX, "code": "7804"}]},
                                  "strength": {"numerator": {"value": 5, "unit": "MG"},
                                               "denominator": {"value": 100, "unit": "MG"}}}]}
    assert comps(K.identify(None, medication)) == [("oxycodone", None, None)]


@pytest.mark.parametrize("text", ["fentanyl 25 mcg/hr continuous infusion", "morphine 2 mg/hr infusion",
                                  "HYDROmorphone 0.5 mg/hr PCA"])
def test_an_infusion_rate_is_not_a_patch(text):
    product = K.identify({"text": text})
    assert product.form.route == "injection" and not product.form.patch


def test_liquid_strength_ratio_per_5_ml():
    medication = {"resourceType": "Medication", "code": {"text": "oxyCODONE 5 mg/5 mL solution"},
                  "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RX, "code": "7804"}]},
                                  "strength": {"numerator": {"value": 5, "unit": "MG/5ML"},
                                               "denominator": {"value": 5, "unit": "MG/5ML"}}}]}
    assert comps(K.identify(None, medication)) == [("oxycodone", 1, "mL")]


def test_coded_ingredients_with_sane_strengths_beat_a_misread_name():
    medication = {"resourceType": "Medication",
                  "code": {"coding": [{"system": EPIC_MED_OID, "code": "4471"}],
                           "text": "HYDROCODONE-ACETAMINOPHEN 325-5 MG PO TABS"},
                  "ingredient": [
                      {"itemCodeableConcept": {"coding": [{"system": RX, "code": "5489"}]},
                       "strength": {"numerator": {"value": 5, "unit": "mg"}, "denominator": {"value": 1, "unit": "1"}}},
                      {"itemCodeableConcept": {"text": "acetaminophen"},
                       "strength": {"numerator": {"value": 325, "unit": "mg"}, "denominator": {"value": 1, "unit": "1"}}}]}
    product = K.identify(None, medication)
    assert sorted(comps(product)) == [("acetaminophen", 325, "unit"), ("hydrocodone", 5, "unit")]


def test_an_ingredient_strength_outside_every_product_is_not_used():
    medication = {"resourceType": "Medication", "code": {"text": "hydrocodone tablet"},
                  "ingredient": [{"itemCodeableConcept": {"coding": [{"system": RX, "code": "5489"}]},
                                  "strength": {"numerator": {"value": 325, "unit": "mg"},
                                               "denominator": {"value": 1, "unit": "1"}}}]}
    assert comps(K.identify(None, medication)) == [("hydrocodone", None, None)]


def test_ndc_or_local_code_falls_back_to_the_display():
    concept = {"coding": [{"system": "http://hl7.org/fhir/sid/ndc", "code": "00406-0512-01",
                           "display": "OXYCODONE HCL 5 MG PO TABS"}]}
    assert comps(K.identify(concept)) == [("oxycodone", 5, "unit")]


def test_a_name_contradicting_the_rxnorm_ingredient_code_loses():
    concept = {"coding": [{"system": RX, "code": "5489", "display": "OXYCODONE HCL 5 MG PO TABS"}]}
    assert K.identify(concept).ingredient_names == ("hydrocodone",)


# -- doses per day -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, per_day", [
    ("Q6H PRN", 4), ("EVERY 72 HOURS", 1 / 3), ("0900 & 1800", 2), ("every 6 (six) hours", 4), ("Q4-6H PRN", 6),
    ("BID", 2), ("TID", 3), ("QID", 4), ("NIGHTLY", 1), ("QHS", 1), ("Q12H", 2), ("Q3H", 8), ("QOD", 0.5),
    ("3 TIMES DAILY", 3), ("EVERY 3 DAYS", 1 / 3), ("WK", 1 / 7), ("Q1H", 24),
])
def test_timing_code_texts(text, per_day):
    assert timing_code_doses(text) == pytest.approx(per_day)


@pytest.mark.parametrize("timing, why", [
    ({"code": {"text": "AS DIRECTED"}}, "text that names no schedule"),
    ({}, "no schedule at all"),
    ({"repeat": {"frequency": 1, "period": 0, "periodUnit": "h"}}, "a period of zero"),
    ({"repeat": {"frequency": 1, "period": -6, "periodUnit": "h"}}, "a negative period"),
    ({"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}, "code": {"text": "Q12H"}}, "repeat and code disagree"),
])
def test_a_schedule_that_cannot_be_read_is_unknown_never_once_a_day(timing, why):
    assert doses_per_day({"timing": timing}) is None, why
    dose = daily_dose([{"timing": timing, "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}],
                      K.identify({"coding": [{"system": RX, "code": "1049621"}]}))
    assert not dose.complete, why


OXY5 = K.identify({"coding": [{"system": RX, "code": "1049621"}]})
NORCO = K.product_from_name("HYDROcodone-acetaminophen (NORCO) 5-325 MG per tablet")


def test_epic_prefetch_dosage_doseQuantity_under_dosage_and_extensions():
    # As Epic's prefetch sends it: extensions ordered-dose/admin-amount, doseQuantity under dosageInstruction
    # (normalised into doseAndRate upstream), repeat plus a code text that agrees.
    dosage = {"extension": [{"url": "https://open.epic.com/fhir/extensions/ordered-dose",
                             "valueQuantity": {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org",
                                               "code": "{tbl}"}}],
              "timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h"}, "code": {"text": "Q6H PRN"}},
              "asNeededBoolean": True}
    dose = daily_dose([dosage], NORCO)
    assert dose.complete and dose.prn
    assert dose.for_ingredient("hydrocodone").mg_per_day == pytest.approx(20)


def test_dose_unit_in_a_local_code_system_is_read_from_its_text():
    dosage = {"timing": {"code": {"text": "Q6H"}},
              "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet",
                                                "system": "urn:oid:1.2.840.114350.1.13.861.1.7.4.698288.340",
                                                "code": "5"}}]}
    assert daily_dose([dosage], OXY5).ingredients[0].mg_per_day == pytest.approx(40)


@pytest.mark.parametrize("unit", ["ug/h", "mcg/h", "mcg/hr"])
def test_patch_dose_written_as_a_rate(unit):
    patch = K.product_from_name("fentanyl transdermal patch")  # no strength in the name
    dosage = {"timing": {"code": {"text": "EVERY 72 HOURS"}},
              "doseAndRate": [{"doseQuantity": {"value": 50, "unit": unit, "code": unit}}]}
    dose = daily_dose([dosage], patch)
    assert dose.complete and dose.ingredients[0].mcg_per_hour == pytest.approx(50)


@pytest.mark.parametrize("value", [0, -1, 1e308 * 10, "NaN"])
def test_zero_negative_or_non_finite_doses_are_incomplete(value):
    dosage = {"timing": {"code": {"text": "Q6H"}}, "doseAndRate": [{"doseQuantity": {"value": value, "code": "{tbl}"}}]}
    assert not daily_dose([dosage], OXY5).complete


def test_a_capped_prn_order_reports_the_doses_a_day_the_cap_allows():
    # q3h PRN, at most 4 tablets a day: 4 doses of 5 mg, so one dose is still the daily total / doses a day.
    dosage = {"timing": {"repeat": {"frequency": 1, "period": 3, "periodUnit": "h"}}, "asNeededBoolean": True,
              "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}],
              "maxDosePerPeriod": {"numerator": {"value": 4, "code": "{tbl}"}, "denominator": {"value": 1, "code": "d"}}}
    dose = daily_dose([dosage], OXY5)
    assert dose.doses_per_day == pytest.approx(4)
    assert dose.ingredients[0].mg_per_day == pytest.approx(20)
    assert dose.ingredients[0].mg_per_day / dose.doses_per_day == pytest.approx(5)


# -- therapies ---------------------------------------------------------------------------------------------------
def test_a_scheduled_and_a_prn_order_of_one_product_are_two_therapies():
    scheduled = {"timing": {"code": {"text": "Q12H"}}, "doseAndRate": [{"doseQuantity": {"value": 1, "code": "{tbl}"}}]}
    prn = {**scheduled, "asNeededBoolean": True, "timing": {"code": {"text": "Q4H PRN"}}}
    uses = [MedicationUse(f"MedicationRequest/{i}", "MedicationRequest", "current", OXY5.name, OXY5,
                          {"dosageInstruction": [d]}, date(2026, 10, 1), None, "active")
            for i, d in enumerate((scheduled, prn))]
    assert len(distinct_therapies(uses)) == 2
    statement = MedicationUse("MedicationStatement/s", "MedicationStatement", "current", OXY5.name, OXY5,
                              {"dosageInstruction": [scheduled]}, date(2026, 10, 1), None, "active")
    assert len(distinct_therapies(uses + [statement])) == 2  # the statement is the scheduled therapy again


@pytest.mark.parametrize("concept", [{"text": "Apadaz 6.12-325 mg tablet"}, {"text": "APADAZ"},
                                     {"text": "benzhydrocodone 6.12 MG / acetaminophen 325 MG Oral Tablet"}])
def test_benzhydrocodone_is_an_opioid_with_no_mme_factor(concept):
    """A hydrocodone prodrug (Apadaz): read as acetaminophen alone it hid every opioid rule."""
    product = K.identify(concept)
    assert product.is_opioid and "benzhydrocodone" in product.ingredient_names


@pytest.mark.parametrize("text, expected", [
    ("HYDROcodone-acetaminophen 5 mg-325 mg oral tablet", [("acetaminophen", 325, "unit"), ("hydrocodone", 5, "unit")]),
    ("oxyCODONE-acetaminophen 10 mg-325 mg oral tablet", [("acetaminophen", 325, "unit"), ("oxycodone", 10, "unit")]),
    ("acetaminophen-codeine 300 mg-30 mg oral tablet", [("acetaminophen", 300, "unit"), ("codeine", 30, "unit")]),
    ("HYDROcodone-acetaminophen 325 mg-5 mg oral tablet", [("acetaminophen", None, None), ("hydrocodone", None, None)]),
])
def test_oracle_health_names_with_a_unit_after_each_strength(text, expected):
    """Oracle Health (Cerner) writes "5 mg-325 mg"; in written order and only when a product has it."""
    assert sorted(comps(K.identify({"text": text}))) == expected


@pytest.mark.parametrize("route, is_patch", [({"text": "Intravenous"}, False), (None, True)])
def test_a_rate_per_hour_given_intravenously_is_not_a_patch(client, route, is_patch):
    """"fentanyl citrate 25 mcg/hr" names no form: with an IV route it is an infusion (no fentanyl-patch card,
    no transdermal MME); with no route stated, a strength per hour is a transdermal system."""
    body = load_json("requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json")
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft["medicationCodeableConcept"] = {"text": "fentanyl citrate 25 mcg/hr"}
    if route:
        draft["dosageInstruction"][0]["route"] = route
    assert ("fentanyl-patch-opioid-naive" in rule_ids(post_hook(client, body))) is is_patch
