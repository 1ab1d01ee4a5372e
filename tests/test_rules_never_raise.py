"""No rule raises on any record the schema accepts (the guide: a defect in one rule must never silently cost a
card). Records carry the extreme values EHRs and hostile clients send: sentinel dates ("9999-12-31" for "no
end"), dates before the calendar's start, supplies of millions of days, huge, zero and negative quantities,
zero periods and values of the wrong type. Every rule runs on each; none may fail."""
from __future__ import annotations

import copy
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import load_json

BASE = load_json("requests/fentanyl-patch-opioid-naive/fires-three-days-of-oxycodone.order-sign.r4.json")
PATIENT = BASE["context"]["patientId"]
TODAY = date(2026, 11, 22)

dates = st.sampled_from(["9999-12-31", "0001-01-01", "1800-01-01", "2200-12-31", "2026-11-22", "2026-02-30",
                         "2026", "2026-11", "9999", "10000-01-01", "", "yesterday"]) | st.dates().map(str)
numbers = (st.sampled_from([0, -1, -0.0, 1e-300, 1e308, 3650000, 2**63, 7, 0.5])
           | st.integers(-10**12, 10**12) | st.floats(allow_nan=False, allow_infinity=False))
weird = st.none() | st.booleans() | st.text(max_size=8) | st.lists(st.integers(), max_size=2) | st.just({})
values = numbers | weird


def _oxycodone(kind: str) -> dict:
    base = {"resourceType": kind, "id": f"{kind.lower()}-x", "status": "active" if kind != "MedicationDispense" else "completed",
            "subject": {"reference": f"Patient/{PATIENT}"},
            "medicationCodeableConcept": {"text": "oxyCODONE (ROXICODONE) 5 MG immediate release tablet"}}
    dosage = {"timing": {"repeat": {"frequency": 1, "period": 6, "periodUnit": "h",
                                    "boundsPeriod": {"start": "2026-11-01", "end": "2026-12-01"}}},
              "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet", "code": "{tbl}"}}],
              "maxDosePerPeriod": {"numerator": {"value": 4, "code": "{tbl}"}, "denominator": {"value": 1, "code": "d"}}}
    if kind == "MedicationRequest":
        base.update(authoredOn="2026-11-01", dosageInstruction=[dosage], dispenseRequest={
            "expectedSupplyDuration": {"value": 30, "code": "d"}, "quantity": {"value": 120, "code": "{tbl}"}})
    elif kind == "MedicationStatement":
        base.update(effectivePeriod={"start": "2026-11-01", "end": "2026-12-01"}, dosage=[dosage])
    else:
        base.update(whenHandedOver="2026-11-10", daysSupply={"value": 30, "code": "d"},
                    quantity={"value": 120, "code": "{tbl}"}, dosageInstruction=[dosage])
    return base


PATHS = {
    "MedicationRequest": [("authoredOn",), ("dispenseRequest", "expectedSupplyDuration", "value"),
                          ("dispenseRequest", "quantity", "value")],
    "MedicationStatement": [("effectivePeriod", "start"), ("effectivePeriod", "end"), ("effectiveDateTime",)],
    "MedicationDispense": [("whenHandedOver",), ("daysSupply", "value"), ("quantity", "value")],
}
DOSAGE_PATHS = [("timing", "repeat", "frequency"), ("timing", "repeat", "period"), ("timing", "repeat", "boundsPeriod", "end"),
                ("timing", "repeat", "boundsPeriod", "start"), ("doseAndRate", 0, "doseQuantity", "value"),
                ("maxDosePerPeriod", "numerator", "value"), ("maxDosePerPeriod", "denominator", "value")]
KEYS = {"MedicationRequest": "medicationRequests", "MedicationStatement": "medicationStatements",
        "MedicationDispense": "medicationDispenses"}


def _set(target, path, value) -> None:
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(PATHS)), data=st.data())
def test_no_rule_raises_on_extreme_records(app, kind, data):
    record = _oxycodone(kind)
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            path = data.draw(st.sampled_from(PATHS[kind]))
        else:
            path = ("dosage" if kind == "MedicationStatement" else "dosageInstruction", 0,
                    *data.draw(st.sampled_from(DOSAGE_PATHS)))
        is_date = path[-1] in ("authoredOn", "start", "end", "effectiveDateTime", "whenHandedOver")
        _set(record, path, data.draw(dates | weird if is_date else values))
    body = copy.deepcopy(BASE)
    body["prefetch"][KEYS[kind]] = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": record}]}
    body["prefetch"]["patient"]["birthDate"] = data.draw(dates)
    result = app.extensions["cds_engine"].evaluate(body, TODAY)
    assert result.rule_errors == [], (kind, record)


def test_an_open_ended_statement_is_current_and_counts(app):
    """9999-12-31 is how EHRs write "no end date": the statement is current, not an error and not history."""
    record = _oxycodone("MedicationStatement")
    record["effectivePeriod"]["end"] = "9999-12-31"
    body = copy.deepcopy(BASE)
    body["prefetch"]["medicationStatements"] = {"resourceType": "Bundle", "type": "searchset",
                                                "entry": [{"resource": record}]}
    result = app.extensions["cds_engine"].evaluate(body, TODAY)
    assert result.rule_errors == []
    high = next(c for c, rid in zip(result.cards, result.rule_ids) if rid == "high-mme")
    assert "oxyCODONE (ROXICODONE) 5 MG immediate release tablet (current, patient-reported from 2026-11-01): 30 MME/day" \
        in high["detail"]


# -- the measurements the second-wave rules read: labs, QTc, genomics, pregnancy, kidney disease -------------
_MEASURED = [("2160-0", "mg/dL"), ("14682-9", "umol/L"), ("98979-8", "mL/min/{1.73_m2}"), ("29463-7", "kg"),
             ("8636-3", "ms"), ("11884-4", "wk"), ("82810-3", None), ("19295-5", None)]
_DRAFTS = ["gabapentin 600 MG Oral Tablet", "traMADol (ULTRAM) 50 MG tablet", "codeine sulfate 30 MG Oral Tablet",
           "methadone hydrochloride 10 MG Oral Tablet", "fentanyl 0.1 MG Buccal Tablet", "ibuprofen 600 MG Oral Tablet",
           "24 HR morphine sulfate 30 MG Extended Release Oral Capsule"]
codes = st.sampled_from(["LA10315-2", "LA9657-3", "therapeutic-implication", "predicted-therapeutic-implication",
                         "53040-2", "51963-7", "HGNC:2625", "77386006", "Z3A.24", "Z3A.99", "N18.6", "F11.20", "G47.33"])


def _measurement(data, loinc: str, unit: str | None) -> dict:
    obs = {"resourceType": "Observation", "id": f"obs-{loinc}", "status": data.draw(st.sampled_from(
        ["final", "amended", "preliminary", "entered-in-error", "unknown", None, 5])),
        "subject": {"reference": f"Patient/{PATIENT}"},
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "effectiveDateTime": data.draw(dates | weird)}
    if unit is not None:
        obs["valueQuantity"] = {"value": data.draw(values), "unit": data.draw(st.sampled_from([unit, "", "%", None, 3])),
                                "code": unit, "comparator": data.draw(st.sampled_from([None, "<", ">="]))}
    else:
        obs["valueCodeableConcept"] = {"coding": [{"system": "http://snomed.info/sct", "code": data.draw(codes)}]}
        obs["valueString"] = data.draw(st.sampled_from(["POS", "neg", "", None, 7]))
    if data.draw(st.booleans()):
        obs["component"] = [{"code": {"coding": [{"system": data.draw(st.sampled_from(
            ["http://loinc.org", "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"])),
            "code": data.draw(codes)}]}, "valueCodeableConcept": {"coding": [{"system": "http://loinc.org",
                                                                             "code": data.draw(codes)}]},
            "valueQuantity": data.draw(weird)} for _ in range(data.draw(st.integers(0, 3)))]
    if data.draw(st.booleans()):
        obs["derivedFrom"] = data.draw(st.sampled_from([[{"reference": "Observation/obs-2160-0"}], [{}], "x", [5]]))
    return obs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_no_rule_raises_on_extreme_measurements_and_conditions(app, data):
    body = copy.deepcopy(BASE)
    drafts = data.draw(st.lists(st.sampled_from(_DRAFTS), min_size=1, max_size=3, unique=True))
    body["context"]["draftOrders"]["entry"] = [{"resource": {
        "resourceType": "MedicationRequest", "id": f"draft-{i}", "status": "draft", "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"}, "medicationCodeableConcept": {"text": name},
        "authoredOn": "2026-11-22", "dosageInstruction": [{"timing": {"repeat": {
            "frequency": data.draw(st.integers(1, 6)), "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}]}],
        "dispenseRequest": {"expectedSupplyDuration": {"value": data.draw(numbers), "code": "d"}}}}
        for i, name in enumerate(drafts)]
    body["context"].pop("selections", None)
    observations = [_measurement(data, loinc, unit) for loinc, unit in _MEASURED if data.draw(st.booleans())]
    conditions = [{"resourceType": "Condition", "id": f"c-{i}", "subject": {"reference": f"Patient/{PATIENT}"},
                   "code": {"coding": [{"system": data.draw(st.sampled_from(
                       ["http://hl7.org/fhir/sid/icd-10-cm", "http://snomed.info/sct"])), "code": data.draw(codes)}],
                       "text": data.draw(st.sampled_from(["Delirium", "History of falls", "COPD", "", None]))},
                   "recordedDate": data.draw(dates | weird), "clinicalStatus": data.draw(weird)}
                  for i in range(data.draw(st.integers(0, 3)))]
    for key, resources in (("labs", observations), ("observations", observations[::-1]), ("conditions", conditions)):
        body["prefetch"][key] = {"resourceType": "Bundle", "type": "searchset",
                                 "entry": [{"resource": r} for r in resources]}
    body["prefetch"]["patient"]["birthDate"] = data.draw(dates)
    body["prefetch"]["patient"]["gender"] = data.draw(st.sampled_from(["female", "male", "other", None, 3]))
    result = app.extensions["cds_engine"].evaluate(body, TODAY)
    assert result.rule_errors == [], (drafts, observations, conditions)
