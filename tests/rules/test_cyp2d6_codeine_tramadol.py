"""cyp2d6-codeine-tramadol: codeine or tramadol for a CYP2D6 ultrarapid (critical) or poor (warning) metabolizer."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from facts_builder import RXNORM, order, patient_facts, run

RULE = "cyp2d6-codeine-tramadol"
LOINC = "http://loinc.org"
TBD = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
PHENOTYPES = {"ultrarapid": ("LA10315-2", "Ultrarapid metabolizer"), "poor": ("LA9657-3", "Poor metabolizer"),
              "intermediate": ("LA10317-8", "Intermediate metabolizer"), "normal": ("LA25391-6", "Normal metabolizer"),
              "rapid": ("LA25390-8", "Rapid metabolizer")}
CODEINE = dict(medication="acetaminophen 300 MG / codeine phosphate 30 MG Oral Tablet", rxnorm="993781", per_day=4)
TRAMADOL = dict(medication="tramadol hydrochloride 50 MG Oral Tablet", rxnorm="835603", per_day=4)
HYDROCODONE = dict(medication="acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet", rxnorm="857002",
                   per_day=4)
CPIC_ROWS = json.loads((Path(__file__).resolve().parents[2] / "cds_service" / "knowledge" / "data"
                        / "value_sets.json").read_text())["cpic"]["rows"]


def draft(spec):
    spec = dict(spec)
    return order(spec.pop("medication"), **spec)


def genotype(id="geno-1"):
    return {"resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": LOINC, "code": "84413-4", "display": "Genotype display name"}]},
            "effectiveDateTime": "2024-03-01", "valueCodeableConcept": {"text": "CYP2D6 *1/*2x2"},
            "component": [{"code": {"coding": [{"system": LOINC, "code": "48018-6"}]},
                           "valueCodeableConcept": {"coding": [{"system": "http://www.genenames.org",
                                                                "code": "HGNC:2625", "display": "CYP2D6"}]}}]}


def implication(phenotype, *, drugs=(), place="therapeutic-implication", when="2024-03-01", status="final",
                geno="geno-1", id=None):
    code, display = PHENOTYPES[phenotype]
    components = [{"code": {"coding": [{"system": TBD, "code": place}]},
                   "valueCodeableConcept": {"coding": [{"system": LOINC, "code": code, "display": display}]}}]
    components += [{"code": {"coding": [{"system": LOINC, "code": "51963-7", "display": "Medication assessed"}]},
                    "valueCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]}} for rxcui in drugs]
    return {"resourceType": "Observation", "id": id or f"impl-{phenotype}-{when}", "status": status,
            "code": {"coding": [{"system": TBD, "code": "therapeutic-implication"}]},
            "effectiveDateTime": when, "performer": [{"display": "Example Genomics Lab"}],
            "derivedFrom": [{"reference": f"Observation/{geno}"}], "component": components}


def findings(spec, *observations, **params):
    return run(RULE, patient_facts(drafts=[draft(spec)], observations=list(observations)), **params)


def test_ultrarapid_codeine_is_critical_and_quotes_cpic_verbatim():
    [f] = findings(CODEINE, genotype(), implication("ultrarapid"))
    assert f.variant is None and f.suggestions == ("remove-draft",)  # the card's own indicator: critical
    row = next(r for r in CPIC_ROWS if r["drug"] == "codeine" and r["phenotype"] == "Ultrarapid Metabolizer")
    assert f.fields["cpic_recommendation"] == row["recommendation"]
    assert f.fields["lab"] == "Example Genomics Lab" and f.fields["result_date"] == "2024-03-01"


def test_poor_tramadol_is_the_warning_variant():
    [f] = findings(TRAMADOL, genotype(), implication("poor"))
    assert f.variant == "poor" and f.fields["drug"] == "tramadol"
    assert "non-codeine opioid" in f.fields["cpic_recommendation"]


def test_intermediate_is_silent_unless_switched_to_info():
    assert findings(CODEINE, genotype(), implication("intermediate")) == []
    [f] = findings(CODEINE, genotype(), implication("intermediate"), intermediate_info=True)
    assert f.variant == "intermediate" and f.suggestions == () and f.removable == ()


def test_normal_rapid_and_no_result_are_silent():
    assert findings(TRAMADOL, genotype(), implication("normal")) == []
    assert findings(TRAMADOL, genotype(), implication("rapid")) == []
    assert findings(TRAMADOL) == []


def test_a_diplotype_alone_is_not_read():
    assert findings(CODEINE, genotype()) == []


def test_preliminary_result_is_not_used():
    assert findings(CODEINE, genotype(), implication("ultrarapid", status="preliminary")) == []


def test_result_about_other_drugs_only_is_silent():
    clopidogrel = "32968"  # the Genomics IG's own TherapeuticImplication example (TxImp01)
    assert findings(CODEINE, genotype(), implication("ultrarapid", drugs=[clopidogrel])) == []


def test_result_naming_the_ingredient_or_a_product_of_it_applies():
    assert len(findings(CODEINE, genotype(), implication("ultrarapid", drugs=["2670"]))) == 1
    # a tramadol product RxCUI (not the one drafted) names tramadol too
    assert len(findings(TRAMADOL, genotype(), implication("ultrarapid", drugs=["836466"]))) == 1
    assert findings(TRAMADOL, genotype(), implication("ultrarapid", drugs=["2670"])) == []


def test_a_newer_result_about_another_drug_does_not_hide_the_one_about_this_drug():
    older = implication("ultrarapid", drugs=["2670"], when="2023-01-10")
    newer = implication("normal", drugs=["32968"], when="2025-06-01")
    [f] = findings(CODEINE, genotype(), older, newer)
    assert f.fields["result_date"] == "2023-01-10"


def test_stu2_shape_is_read():
    [f] = findings(TRAMADOL, genotype(), implication("ultrarapid", place="predicted-therapeutic-implication"))
    assert f.fields["phenotype"] == "ultrarapid"


def test_text_only_result_is_read():
    text = {"resourceType": "Observation", "id": "pgx-text", "status": "final",
            "code": {"text": "CYP2D6 phenotype"}, "effectiveDateTime": "2022-05-04",
            "valueString": "CYP2D6 ultrarapid metabolizer"}
    [f] = findings(CODEINE, text)
    assert f.fields["result_date"] == "2022-05-04" and f.fields["lab"] == "laboratory not named in the result"


def test_hydrocodone_is_not_this_rule():
    assert patient_facts(drafts=[draft(HYDROCODONE)]).reported[0].product is not None  # recognised, and still silent
    assert findings(HYDROCODONE, genotype(), implication("ultrarapid")) == []


def test_no_look_back_for_a_germline_result():
    old = implication("poor", when=date(2001, 1, 1).isoformat())
    assert [f.variant for f in findings(TRAMADOL, genotype(), old)] == ["poor"]
