"""A small builder of PatientFacts for a rule's unit tests: a few lines per case instead of a whole hook request.

The facts are built the way the service builds them (the hook adapter, the prefetch reader and the fact
builder run on an order-sign request assembled here), so a unit test exercises the same reading of drugs,
doses, conditions and observations as a scenario does::

    facts = patient_facts(drafts=[order("tramadol 50 MG Oral Tablet", per_day=4)],
                          observations=[lab("2160-0", 2.1, "mg/dL")], age=70)
    findings = run("tramadol-renal-dose", facts)
"""
from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from cds_service.facts import FactBuilder, PatientFacts
from cds_service.fhir.prefetch import gather
from cds_service.hooks import order_context
from cds_service.knowledge.drugs import DrugKnowledge
from cds_service.rules import RULES

TODAY = date(2026, 11, 22)  # the fixtures' reference date
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
_ids = itertools.count(1)
_KNOWLEDGE: DrugKnowledge | None = None


def order(medication: str, *, rxnorm: str | None = None, dose: float = 1, unit: str = "tablet",
          per_day: float | None = 1, prn: bool = False, days: float | None = 30, status: str = "active",
          authored: date | None = None, route: str | None = None, reason: dict | None = None,
          id: str | None = None) -> dict:
    """A MedicationRequest as an EHR sends one: an RxNorm name (and code), a dose, a frequency, a supply."""
    concept: dict[str, Any] = {"text": medication}
    if rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": rxnorm, "display": medication}]
    dosage: dict[str, Any] = {"text": f"{dose:g} {unit}", "doseAndRate": [
        {"doseQuantity": {"value": dose, "unit": unit}}]}
    if per_day is not None:
        dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
    if prn:
        dosage["asNeededBoolean"] = True
    if route:
        dosage["route"] = {"text": route}
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest", "id": id or f"mr-{next(_ids)}", "status": status, "intent": "order",
        "medicationCodeableConcept": concept, "subject": {"reference": "Patient/pt-unit"},
        "authoredOn": (authored or TODAY).isoformat(), "dosageInstruction": [dosage]}
    if days is not None:
        resource["dispenseRequest"] = {"expectedSupplyDuration": {"value": days, "unit": "days",
                                                                  "system": "http://unitsofmeasure.org", "code": "d"}}
    if reason is not None:
        resource["reasonCode"] = [reason]
    return resource


def condition(code: str, display: str, *, system: str = ICD10CM, recorded: date | None = None,
              status: str = "active") -> dict:
    return {"resourceType": "Condition", "id": f"cond-{next(_ids)}", "subject": {"reference": "Patient/pt-unit"},
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                           "code": status}]},
            "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
            "recordedDate": (recorded or TODAY - timedelta(days=30)).isoformat()}


def lab(loinc: str, value: float, unit: str, *, display: str = "", when: date | None = None,
        status: str = "final", category: str = "laboratory") -> dict:
    """A numeric Observation (creatinine, eGFR, weight, QTc, gestational age) coded in LOINC, UCUM unit."""
    return {"resourceType": "Observation", "id": f"obs-{next(_ids)}", "status": status,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": category}]}],
            "code": {"coding": [{"system": LOINC, "code": loinc, "display": display or loinc}]},
            "subject": {"reference": "Patient/pt-unit"},
            "effectiveDateTime": (when or TODAY - timedelta(days=10)).isoformat(),
            "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}}


def patient_facts(*, drafts: list[dict] = (), current: list[dict] = (), conditions: list[dict] = (),
                  observations: list[dict] = (), statements: list[dict] = (), procedures: list[dict] = (),
                  service_requests: list[dict] = (), age: int | None = 50, gender: str = "female",
                  draft_others: list[dict] = (), today: date = TODAY, renal_window: int = 365) -> PatientFacts:
    """The facts the rules see for this patient, built as the service builds them."""
    global _KNOWLEDGE
    _KNOWLEDGE = _KNOWLEDGE or DrugKnowledge.load()
    patient: dict[str, Any] = {"resourceType": "Patient", "id": "pt-unit", "gender": gender}
    if age is not None:
        patient["birthDate"] = date(today.year - age, 1, 1).isoformat()  # ``age`` years old today
    draft_list = [{**d, "status": "draft"} for d in drafts] + list(draft_others)

    def bundle(resources) -> dict:
        return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    body = {"hook": "order-sign", "hookInstance": "unit", "context": {
        "userId": "Practitioner/unit", "patientId": "pt-unit", "draftOrders": bundle(draft_list)},
        "prefetch": {"patient": patient, "medicationRequests": bundle(current),
                     "medicationStatements": bundle(statements), "medicationDispenses": bundle([]),
                     "conditions": bundle(conditions), "observations": bundle(observations),
                     "screenings": bundle([]), "labs": bundle([]), "procedures": bundle(procedures),
                     "serviceRequests": bundle(service_requests), "encounters": bundle([])}}
    ctx = order_context(body)
    record = gather(body["prefetch"], ctx.patient_id, None, None, [], False)
    return FactBuilder(_KNOWLEDGE, renal_window=renal_window).build(ctx, record, today)


def run(rule_id: str, facts: PatientFacts, **params: Any) -> list:
    """The rule's findings with its default parameters, overridden by ``params`` (the engine's exclusion is
    not applied here: ``excluded`` tests that)."""
    rule = RULES[rule_id]
    return rule.evaluate(facts, {**rule.defaults, **params})


def excluded(rule_id: str, facts: PatientFacts) -> bool:
    """The engine would skip the rule for this patient (its declared exclusion applies)."""
    rule = RULES[rule_id]
    return rule.exclusion is not None and facts.excluded(rule.exclusion)
