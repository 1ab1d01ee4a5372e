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
