"""The measurements the second-wave rules read (knowledge/observations.py), as EHRs and the HL7 material record
them; a value that cannot be read with certainty is unknown, never guessed."""
from __future__ import annotations

from datetime import date, timedelta

from cds_service.knowledge.observations import (cockcroft_gault, cyp2d6_phenotype, latest_qtc,
                                                latest_urine_drug_screen, renal_function)
from facts_builder import LOINC, SNOMED, TODAY, condition, lab, patient_facts

FEMALE_70 = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1956-01-01"}
GENOMICS = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"


def test_cockcroft_gault_as_the_equation_reads():
    assert round(cockcroft_gault(70, 60, 1.2, female=True), 1) == 41.3  # (140-70) x 60 / (72 x 1.2) x 0.85
    assert round(cockcroft_gault(80, 70, 2.0, female=False), 1) == 29.2


def test_crcl_from_creatinine_weight_age_and_sex_with_its_inputs():
    renal = renal_function(FEMALE_70, [lab("2160-0", 1.2, "mg/dL"), lab("29463-7", 60, "kg")], TODAY, 365, 70)
    assert renal.method == "cockcroft-gault" and round(renal.crcl, 1) == 41.3
    assert dict(renal.inputs)["serum creatinine"].startswith("1.2 mg/dL on ")


def test_creatinine_in_micromoles_and_weight_in_pounds_are_converted():
    renal = renal_function(FEMALE_70, [lab("14682-9", 106.1, "umol/L"), lab("29463-7", 132.3, "[lb_av]")],
                           TODAY, 365, 70)
    assert round(renal.crcl) == 41


def test_without_a_weight_the_egfr_is_used_and_said_to_be_an_egfr():
    renal = renal_function(FEMALE_70, [lab("2160-0", 1.2, "mg/dL"), lab("98979-8", 38, "mL/min/{1.73_m2}")],
                           TODAY, 365, 70)
    assert (renal.method, renal.crcl) == ("egfr", 38)


def test_renal_function_is_unknown_rather_than_guessed():
    old = lab("2160-0", 1.2, "mg/dL", when=TODAY - timedelta(days=400))
    assert renal_function(FEMALE_70, [old, lab("29463-7", 60, "kg")], TODAY, 365, 70).crcl is None
    odd_unit = lab("2160-0", 1.2, "mg/mL")
    assert renal_function(FEMALE_70, [odd_unit, lab("29463-7", 60, "kg")], TODAY, 365, 70).crcl is None
    bound = lab("98979-8", 15, "mL/min/{1.73_m2}")
    bound["valueQuantity"]["comparator"] = "<"  # "<15" is a bound, not a value
    assert renal_function(FEMALE_70, [bound], TODAY, 365, 70).crcl is None
    no_sex = {**FEMALE_70, "gender": "unknown"}
    unknown = renal_function(no_sex, [lab("2160-0", 1.2, "mg/dL"), lab("29463-7", 60, "kg")], TODAY, 365, 70)
    assert unknown.crcl is None and "sex" in unknown.why_unknown


def test_qtc_coded_named_or_inside_an_ecg_panel():
    assert latest_qtc([lab("8636-3", 512, "ms")], TODAY, 365).value == 512
    panel = lab("11524-6", 0, "ms")
    del panel["valueQuantity"]
    panel["component"] = [{"code": {"coding": [{"system": LOINC, "code": "76634-5"}]},
                           "valueQuantity": {"value": 0.47, "unit": "s", "code": "s"}}]
    assert latest_qtc([panel], TODAY, 365).value == 470
    local = lab("X-QTC", 455, "ms", display="QTc interval")
    local["code"]["coding"][0]["system"] = "urn:oid:1.2.840.114350"
    assert latest_qtc([local], TODAY, 365).value == 455
    assert latest_qtc([lab("8636-3", 512, "ms", when=TODAY - timedelta(days=400))], TODAY, 365) is None


def _implication(component_code: str, answer: str, when: str = "2025-06-01", drug: str | None = "2670") -> dict:
    components = [{"code": {"coding": [{"system": GENOMICS, "code": component_code}]},
                   "valueCodeableConcept": {"coding": [{"system": LOINC, "code": answer}]}}]
    if drug:
        components.append({"code": {"coding": [{"system": LOINC, "code": "51963-7"}]}, "valueCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": drug}]}})
    return {"resourceType": "Observation", "id": "ti", "status": "final", "effectiveDateTime": when,
            "code": {"coding": [{"system": GENOMICS, "code": "therapeutic-implication"}]},
            "derivedFrom": [{"reference": "Observation/gt"}], "component": components}


GENOTYPE = {"resourceType": "Observation", "id": "gt", "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "84413-4"}]},
            "component": [{"code": {"coding": [{"system": LOINC, "code": "48018-6"}]}, "valueCodeableConcept": {
                "coding": [{"system": "http://www.genenames.org", "code": "HGNC:2625", "display": "CYP2D6"}]}}],
            "valueCodeableConcept": {"text": "*1/*2xN"}}


def test_cyp2d6_phenotype_in_the_genomics_reporting_ig_shapes():
    current = cyp2d6_phenotype([_implication("therapeutic-implication", "LA10315-2"), GENOTYPE])
    assert current.phenotype == "ultrarapid" and current.drugs == {"2670"}
    stu2 = cyp2d6_phenotype([_implication("predicted-therapeutic-implication", "LA9657-3", drug=None), GENOTYPE])
    assert stu2.phenotype == "poor"
    text = {"resourceType": "Observation", "id": "t", "status": "final", "code": {"text": "CYP2D6 genotype"},
            "valueString": "CYP2D6 *1/*1xN: ultrarapid metabolizer", "effectiveDateTime": "2024-02-01"}
    assert cyp2d6_phenotype([text]).phenotype == "ultrarapid"


def test_a_diplotype_alone_or_another_gene_gives_no_phenotype():
    assert cyp2d6_phenotype([GENOTYPE]) is None
    other_gene = {**_implication("therapeutic-implication", "LA9657-3"), "derivedFrom": []}
    assert cyp2d6_phenotype([other_gene]) is None  # no gene named: not known to be CYP2D6
    preliminary = {**_implication("therapeutic-implication", "LA9657-3"), "status": "preliminary"}
    assert cyp2d6_phenotype([preliminary, GENOTYPE]) is None


def test_the_newest_phenotype_wins():
    old = _implication("therapeutic-implication", "LA9657-3", when="2019-01-01")
    new = {**_implication("therapeutic-implication", "LA25391-6", when="2024-01-01"), "id": "ti2"}
    assert cyp2d6_phenotype([old, new, GENOTYPE]).phenotype == "normal"


def test_pregnancy_and_gestational_age_from_an_observation_plus_the_days_since():
    ga = lab("49051-6", 22, "wk", when=TODAY - timedelta(days=14))
    status = lab("82810-3", 0, "")
    del status["valueQuantity"]
    status["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "77386006"}]}
    pregnancy = patient_facts(observations=[ga, status]).pregnancy
    assert pregnancy.pregnant and round(pregnancy.weeks) == 24


def test_pregnancy_from_a_z3a_code_and_ended_by_a_newer_status():
    z3a = condition("Z3A.31", "31 weeks gestation of pregnancy", recorded=TODAY - timedelta(days=7))
    assert round(patient_facts(conditions=[z3a]).pregnancy.weeks) == 32
    not_pregnant = lab("82810-3", 0, "", when=TODAY - timedelta(days=1))
    del not_pregnant["valueQuantity"]
    not_pregnant["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "60001007"}]}
    assert not patient_facts(conditions=[z3a], observations=[not_pregnant]).pregnancy.pregnant
    old = condition("Z33.1", "Pregnant state, incidental", recorded=TODAY - timedelta(days=400))
    assert not patient_facts(conditions=[old]).pregnancy.pregnant  # beyond 42 weeks


def test_a_urine_drug_screen_counts_within_twelve_months_and_a_day():
    since = date(TODAY.year - 1, TODAY.month, TODAY.day) - timedelta(days=1)
    screen = lab("19295-5", 0, "", when=since)
    assert latest_urine_drug_screen([screen], TODAY, since) is screen
    cancelled = {**screen, "status": "cancelled"}
    assert latest_urine_drug_screen([cancelled], TODAY, since) is None
    assert latest_urine_drug_screen([lab("19295-5", 0, "", when=since - timedelta(days=1))], TODAY, since) is None


# -- what a red team sent: each once gave a confident wrong answer ---------------------------------------------
def _status(code: str, system: str, when: date) -> dict:
    obs = lab("82810-3", 0, "", when=when)
    del obs["valueQuantity"]
    obs["valueCodeableConcept"] = {"coding": [{"system": system, "code": code}]}
    return obs


def test_a_pregnancy_status_of_unknown_does_not_end_a_documented_pregnancy():
    z33 = condition("Z33.1", "Pregnant state, incidental", recorded=TODAY - timedelta(days=60))
    unknown = _status("261665006", SNOMED, TODAY - timedelta(days=1))
    assert patient_facts(conditions=[z33], observations=[unknown]).pregnancy.pregnant
    assert patient_facts(observations=[_status("LA15173-0", LOINC, TODAY - timedelta(days=3))]).pregnancy.pregnant
    assert not patient_facts(conditions=[z33], observations=[
        _status("LA26683-5", LOINC, TODAY - timedelta(days=1))]).pregnancy.pregnant


def test_an_old_gestational_age_or_a_delivery_since_ends_the_pregnancy():
    stale = lab("49051-6", 30, "wk", when=TODAY - timedelta(days=266))  # would be 68 weeks today
    assert not patient_facts(observations=[stale]).pregnancy.pregnant
    z34 = condition("Z34.93", "Encounter for supervision of normal pregnancy, third trimester",
                    recorded=TODAY - timedelta(days=90))
    postpartum = condition("Z39.2", "Encounter for routine postpartum follow-up", recorded=TODAY - timedelta(days=10))
    assert patient_facts(conditions=[z34]).pregnancy.pregnant
    assert not patient_facts(conditions=[z34, postpartum]).pregnancy.pregnant


def test_cyp2d6_text_with_a_background_paragraph_or_a_negation_is_not_ultrarapid():
    def text(value: str) -> dict:
        return {"resourceType": "Observation", "id": "t", "status": "final", "code": {"text": "CYP2D6 genotype"},
                "valueString": value, "effectiveDateTime": "2024-02-01"}
    background = "Predicted phenotype: Normal metabolizer. Background: individuals who are ultrarapid metabolizers may"
    assert cyp2d6_phenotype([text(background)]) is None  # two phenotypes named: not read
    assert cyp2d6_phenotype([text("Not an ultrarapid metabolizer; normal metabolizer")]).phenotype == "normal"


def test_the_newest_renal_result_decides_even_when_it_is_a_bound():
    egfr_gt60 = lab("98979-8", 60, "mL/min/{1.73_m2}", when=TODAY - timedelta(days=5))
    egfr_gt60["valueQuantity"]["comparator"] = ">"
    older = lab("98979-8", 25, "mL/min/{1.73_m2}", when=TODAY - timedelta(days=300))
    assert renal_function(FEMALE_70, [egfr_gt60, older], TODAY, 365, 70).crcl is None
    scr_lt = lab("2160-0", 0.5, "mg/dL", when=TODAY - timedelta(days=5))
    scr_lt["valueQuantity"]["comparator"] = "<"
    old_scr = lab("2160-0", 2.4, "mg/dL", when=TODAY - timedelta(days=200))
    renal = renal_function(FEMALE_70, [scr_lt, old_scr, lab("29463-7", 60, "kg")], TODAY, 365, 70)
    assert renal.crcl is None and "bound" in renal.why_unknown


def test_impossible_numbers_are_unknown_and_real_units_are_converted():
    assert latest_qtc([lab("8636-3", 480, "s")], TODAY, 365) is None  # 480,000 ms: a unit error
    assert renal_function(FEMALE_70, [lab("2160-0", 141, "mg/dL"), lab("29463-7", 60, "kg")], TODAY, 365, 70).crcl is None
    per_litre = renal_function(FEMALE_70, [lab("2160-0", 12, "mg/L"), lab("29463-7", 60000, "g")], TODAY, 365, 70)
    assert round(per_litre.crcl, 1) == 41.3
    ounces = renal_function(FEMALE_70, [lab("2160-0", 1.2, "mg/dL"), lab("29463-7", 2116.4, "[oz_av]")],
                            TODAY, 365, 70)
    assert round(ounces.crcl) == 41


def test_a_urine_drug_screen_inside_a_panel_counts():
    since = TODAY - timedelta(days=366)
    panel = lab("X-UDS", 0, "", display="DRUG SCREEN, URINE")
    panel["code"]["coding"][0]["system"] = "urn:oid:1.2.840.114350"
    del panel["valueQuantity"]
    panel["component"] = [{"code": {"coding": [{"system": LOINC, "code": "19295-5"}]}, "valueString": "NEG"}]
    assert latest_urine_drug_screen([panel], TODAY, since) is panel


def test_an_egfr_is_not_read_as_a_teenagers_creatinine_clearance():
    teen = {**FEMALE_70, "birthDate": "2010-06-01"}
    renal = renal_function(teen, [lab("98979-8", 40, "mL/min/{1.73_m2}")], TODAY, 365, 16)
    assert renal.crcl is None and "adults only" in renal.why_unknown
