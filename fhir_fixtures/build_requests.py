"""Write the hook requests in fhir_fixtures/requests/ from the scenarios in fhir_fixtures/scenarios/.

A scenario is one patient written once, as R4 resources (drafts, medication requests, statements, dispenses,
conditions, observations), with the rule ids a pharmacist expects (``expect``: the exact cards, in the order
the service returns them; ``expect_order_select`` where order-select, reporting only on ``selections``, differs).
This script writes it in the three shapes EHRs send:

- ``<case>.order-select.r4.json``: CDS Hooks 2.0 order-select, R4, drafts in a Bundle, ``selections``;
- ``<case>.order-sign.r4.json``: order-sign, R4, every draft;
- ``<case>.medication-prescribe.dstu2.json``: CDS Hooks 1.0 medication-prescribe, DSTU2 resources
  (MedicationOrder, DSTU2 statements, dispenses and conditions) in a ``medications`` array.

Every resource carries the CDC opioid CDS test suite's ``dataDateRoller`` extension with the scenario's
``referenceDate`` (the day its dates are true for), so a server answering on a later day moves every date
forward by the days since (the service does this for any request whose resources carry it): the requests give
the cards their names promise on any day, and the tests, whose clock is the reference date, see them as written.

The DSTU2 conversion here is deliberately independent of the service's own reading code, so that a mistake
in one is not copied into the other. Run ``python fhir_fixtures/build_requests.py`` after editing a scenario;
a test fails while the written requests are out of date.
"""
from __future__ import annotations

import copy
import json
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
REQUESTS = HERE / "requests"
FHIR_R4 = "https://ehr.example.org/fhir/r4"
FHIR_DSTU2 = "https://ehr.example.org/fhir/dstu2"
PREFETCH_KEYS = {
    "medicationRequests": "MedicationRequest",
    "medicationStatements": "MedicationStatement",
    "medicationDispenses": "MedicationDispense",
    "conditions": "Condition",
    "observations": "Observation",
    "screenings": "Observation",
    "labs": "Observation",
    "procedures": "Procedure",
    "serviceRequests": "ServiceRequest",
    "encounters": "Encounter",
}
R4_ONLY_KEYS = ("serviceRequests",)  # DSTU2 has no ServiceRequest: the DSTU2 service does not ask for it
HOOK_FORMS = ("order-select.r4", "order-sign.r4", "medication-prescribe.dstu2")
DATE_ROLLER = "http://fhir.org/guides/cdc/opioid-cds/StructureDefinition/dataDateRoller"


def _bundle(resources: list[dict], base: str) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"fullUrl": f"{base}/{r['resourceType']}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                  for r in resources],
    }


# -- R4 -> DSTU2 (the subset of elements these scenarios use) -----------------------------------------------
def _dstu2_dosage(dosage: dict, quantity_key: str = "doseQuantity") -> dict:
    out = {k: v for k, v in dosage.items() if k in ("text", "asNeededBoolean", "maxDosePerPeriod")}
    if "timing" in dosage:
        timing = copy.deepcopy(dosage["timing"])
        repeat = timing.get("repeat", {})
        if "periodUnit" in repeat:
            repeat["periodUnits"] = repeat.pop("periodUnit")
        if isinstance(repeat.get("when"), list):
            repeat["when"] = repeat["when"][0]
        out["timing"] = timing
    for entry in dosage.get("doseAndRate", [])[:1]:
        if "doseQuantity" in entry:
            out[quantity_key] = entry["doseQuantity"]
        if "doseRange" in entry and quantity_key == "doseQuantity":
            out["doseRange"] = entry["doseRange"]
    return out


def _dstu2_ref(ref: dict) -> dict:
    """A reference to a MedicationRequest is a reference to a MedicationOrder in DSTU2."""
    return {**ref, "reference": ref["reference"].replace("MedicationRequest/", "MedicationOrder/")}


def to_dstu2(resource: dict) -> dict:
    kind = resource["resourceType"]
    r = resource
    if kind == "MedicationRequest":
        out = {"resourceType": "MedicationOrder", "id": r["id"], "status": r["status"], "patient": r["subject"]}
        if "authoredOn" in r:  # some exports leave the order's date out
            out["dateWritten"] = r["authoredOn"]
        for key in ("medicationCodeableConcept", "medicationReference"):
            if key in r:
                out[key] = r[key]
        if "priorPrescription" in r:
            out["priorPrescription"] = _dstu2_ref(r["priorPrescription"])
        if "reasonCode" in r:
            out["reasonCodeableConcept"] = r["reasonCode"][0]
        if "dosageInstruction" in r:
            out["dosageInstruction"] = [_dstu2_dosage(d) for d in r["dosageInstruction"]]
        if "dispenseRequest" in r:
            out["dispenseRequest"] = {k: v for k, v in r["dispenseRequest"].items()
                                      if k in ("expectedSupplyDuration", "numberOfRepeatsAllowed", "quantity")}
        return out
    if kind == "MedicationStatement":
        out = {"resourceType": "MedicationStatement", "id": r["id"], "status": r["status"], "patient": r["subject"]}
        for key in ("medicationCodeableConcept", "effectiveDateTime", "effectivePeriod", "dateAsserted"):
            if key in r:
                out[key] = r[key]
        if "dosage" in r:
            out["dosage"] = [_dstu2_dosage(d, "quantityQuantity") for d in r["dosage"]]
        return out
    if kind == "MedicationDispense":
        out = {"resourceType": "MedicationDispense", "id": r["id"], "status": r["status"], "patient": r["subject"]}
        for key in ("medicationCodeableConcept", "whenHandedOver", "daysSupply", "quantity"):
            if key in r:
                out[key] = r[key]
        if "authorizingPrescription" in r:
            out["authorizingPrescription"] = [_dstu2_ref(a) for a in r["authorizingPrescription"]]
        if "dosageInstruction" in r:
            out["dosageInstruction"] = [_dstu2_dosage(d) for d in r["dosageInstruction"]]
        return out
    if kind == "Condition":
        out = {"resourceType": "Condition", "id": r["id"], "patient": r["subject"], "code": r["code"],
               "verificationStatus": "confirmed"}
        status = r.get("clinicalStatus", {}).get("coding", [{}])[0].get("code")
        if status:
            out["clinicalStatus"] = status
        for key in ("onsetDateTime", "abatementDateTime"):
            if key in r:
                out[key] = r[key]
        return out
    return copy.deepcopy(resource)


# -- requests -------------------------------------------------------------------------------------------------
def dated(resource: dict, reference: str) -> dict:
    """The resource marked, as the CDC test suite marks its own, with the day its dates are true for."""
    roller = {"url": DATE_ROLLER, "extension": [
        {"url": "dateLastUpdated", "valueDateTime": reference},
        {"url": "frequency", "valueDuration": {"value": 1.0, "unit": "days", "system": "http://unitsofmeasure.org",
                                               "code": "d"}}]}
    out = {k: v for k, v in resource.items() if k in ("resourceType", "id")}
    out["extension"] = [roller, *resource.get("extension", [])]
    return out | {k: v for k, v in resource.items() if k not in out}


def build(scenario: dict, name: str, form: str) -> dict:
    reference = scenario["referenceDate"]
    patient = dated(scenario["patient"], reference)
    drafts = scenario["drafts"]
    dstu2 = form.endswith("dstu2")

    def convert(resource: dict) -> dict:
        return dated(to_dstu2(resource) if dstu2 else copy.deepcopy(resource), reference)

    base = FHIR_DSTU2 if dstu2 else FHIR_R4
    body: dict = {
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"pain-medication-safety/{name}/{form}")),
        "hook": form.rsplit(".", 1)[0],
        "fhirServer": base,
    }
    context: dict = {"userId": "Practitioner/example-prescriber", "patientId": patient["id"]}
    if dstu2:
        context["medications"] = [convert(d) for d in drafts]
    else:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": convert(d)} for d in drafts]}
        if body["hook"] == "order-select":
            context["selections"] = scenario.get(
                "selections", [f"{d['resourceType']}/{d['id']}" for d in drafts])
    body["context"] = context
    prefetch = {"patient": patient}
    for key in PREFETCH_KEYS:
        if not (dstu2 and key in R4_ONLY_KEYS):
            prefetch[key] = _bundle([convert(r) for r in scenario.get(key, [])], base)
    body["prefetch"] = prefetch
    return body


def all_requests() -> dict[Path, dict]:
    """Every request file this script writes, by path."""
    out: dict[Path, dict] = {}
    for path in sorted(SCENARIOS.glob("*/*.json")):
        scenario = json.loads(path.read_text(encoding="utf-8"))
        rule_dir = path.parent.name
        for form in scenario.get("forms", HOOK_FORMS):  # "forms": a scenario only some versions can express
            out[REQUESTS / rule_dir / f"{path.stem}.{form}.json"] = build(scenario, f"{rule_dir}/{path.stem}", form)
    return out


def render(body: dict) -> str:
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    written = 0
    for path, body in all_requests().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(body), encoding="utf-8")
        written += 1
    print(f"wrote {written} requests under {REQUESTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
