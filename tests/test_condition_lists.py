"""Conditions as EHRs code them decide the exclusions and indications (docs/clinical-rules.md §1.5 as corrected by
docs/clinical-rules.md §4.4): sickle-cell trait is not sickle-cell disease, neoplasm-related pain and SNOMED CT hospice,
terminal and palliative codes exclude, an ICD-10-CM code outside a list is not overruled by words in its
display, and a negated word ("without radiculopathy") is not a diagnosis."""
from __future__ import annotations

import pytest

from cds_service.knowledge.patient import code_lists

ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
EPIC_PROBLEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.728286"  # an EHR's own problem-list codes
LISTS = code_lists()


def concept(system: str | None, code: str | None, display: str) -> dict:
    if system is None:
        return {"text": display}
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


@pytest.mark.parametrize("system,code,display,expected", [
    (ICD, "D57.1", "Sickle-cell disease without crisis", True),
    (ICD, "D57.00", "Hb-SS disease with crisis, unspecified", True),
    (ICD, "D57.3", "Sickle-cell trait", False),
    (ICD, "G89.3", "Neoplasm related pain (acute) (chronic)", True),
    (ICD, "C25.9", "Malignant neoplasm of pancreas, unspecified", True),
    (SCT, "372142002", "Carcinoma of pancreas", True),
    (SCT, "700423003", "Adenocarcinoma of pancreas", True),  # from the generated CDC value-set file
    (SCT, "305911006", "Seen in hospice", True),
    (SCT, "441482006", "History of sickle cell anaemia", False),  # RULES-WAVE2 4.4: does not exclude
    (SCT, "385763009", "Hospice care", True),
    (SCT, "300936002", "Terminal illness", True),
    (SCT, "133918004", "Comfort measures", True),
    (ICD, "Z51.5", "Encounter for palliative care", True),
    (ICD, "M54.50", "Low back pain, unspecified", False),
    (None, None, "Patient enrolled in hospice", True),
])
def test_serious_illness_as_coded(system, code, display, expected):
    assert LISTS["serious_illness"].matches_concept(concept(system, code, display)) is expected


@pytest.mark.parametrize("system,code,display,expected", [
    (ICD, "M47.816", "Spondylosis without myelopathy or radiculopathy, lumbar region", False),
    (ICD, "E11.42", "Type 2 diabetes mellitus with diabetic polyneuropathy", True),
    (None, None, "Lumbar radiculopathy", True),
    (None, None, "Low back pain, no radiculopathy", False),
    (EPIC_PROBLEM, "46012", "Diabetic neuropathy", True),  # a local code says nothing: the text decides
])
def test_neuropathic_pain_as_coded(system, code, display, expected):
    assert LISTS["neuropathic_pain"].matches_concept(concept(system, code, display)) is expected


def _care(kind: str, status: str, code: str, display: str, system: str = SCT, **extra) -> dict:
    coded = {"coding": [{"system": system, "code": code, "display": display}], "text": display}
    record = {"resourceType": kind, "id": f"{kind.lower()}-1", "status": status, **extra}
    if kind == "Encounter":
        record["type"] = [coded]
    else:
        record["code"] = coded
    return record


@pytest.mark.parametrize("record,expected", [
    (_care("ServiceRequest", "active", "306205009", "Referral to hospice"), True),
    (_care("ServiceRequest", "completed", "306205009", "Referral to hospice"), False),
    (_care("Encounter", "in-progress", "385763009", "Hospice care", period={"start": "2026-11-01"}), True),
    (_care("Encounter", "finished", "385763009", "Hospice care", period={"start": "2026-01-01", "end": "2026-02-01"}), False),
    (_care("Procedure", "in-progress", "103735009", "Palliative care"), True),
    (_care("Procedure", "completed", "305336008", "Admission to hospice", performedDateTime="2023-04-02"), False),
    (_care("Procedure", "completed", "103735009", "Palliative care", performedPeriod={"start": "2026-10-01"}), True),
    (_care("ServiceRequest", "active", "COL-1", "Colonoscopy", system=EPIC_PROBLEM), False),
])
def test_hospice_and_palliative_care_recorded_as_care(record, expected):
    from datetime import date

    from cds_service.knowledge.patient import in_care_of_list

    assert in_care_of_list([record], LISTS["serious_illness"], date(2026, 11, 22)) is expected
