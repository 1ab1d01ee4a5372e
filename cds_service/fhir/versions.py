"""Read medication resources of any FHIR version in one R4 shape.

EHRs send DSTU2 ``MedicationOrder``, STU3 and R4 ``MedicationRequest`` (R5 ``medication`` as a
CodeableReference), and the CDS Hooks sandbox adds quirks: R4 ``category`` as one object, ``intent`` on DSTU2,
``doseQuantity`` outside ``doseAndRate``. Everything downstream reads the R4 shape this module returns.

History records are read leniently (plain dictionaries; a malformed old record must not hide a risk). Drafts
are what the clinician is about to sign, so the parts of a draft the rules read are also checked strictly with
``fhir.resources`` (R4B ``MedicationRequest``, which is R4's) and a bad type there is a 400 naming the field.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from ..knowledge.lenient import items

_DOSE_KEYS = ("doseQuantity", "doseRange", "rateQuantity", "rateRange", "rateRatio")
_LOOSE_KEYS = frozenset((*_DOSE_KEYS, "quantityQuantity"))


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def normalize_dosage(dosage: Any) -> Any:
    """One Dosage in R4 shape: dose and rate inside ``doseAndRate``, ``periodUnit``, ``when`` as a list."""
    if not isinstance(dosage, dict):
        return dosage
    out = {k: v for k, v in dosage.items() if k not in _DOSE_KEYS and k != "quantityQuantity"}
    loose = {k: dosage[k] for k in _DOSE_KEYS if k in dosage}
    if "quantityQuantity" in dosage:  # DSTU2 MedicationStatement.dosage
        loose.setdefault("doseQuantity", dosage["quantityQuantity"])
    if loose:
        out["doseAndRate"] = _as_list(dosage.get("doseAndRate")) + [loose]
    timing = dosage.get("timing")
    if isinstance(timing, dict) and isinstance(timing.get("repeat"), dict):
        repeat = dict(timing["repeat"])
        if "periodUnits" in repeat:  # DSTU2
            repeat.setdefault("periodUnit", repeat.pop("periodUnits"))
        if isinstance(repeat.get("when"), str):  # DSTU2: one code
            repeat["when"] = [repeat["when"]]
        out["timing"] = {**timing, "repeat": repeat}
    return out


def _medication_fields(resource: dict) -> dict:
    out: dict[str, Any] = {}
    med = resource.get("medication")
    if isinstance(med, dict) and ("concept" in med or "reference" in med):  # R5 CodeableReference
        if isinstance(med.get("concept"), dict):
            out["medicationCodeableConcept"] = med["concept"]
        if isinstance(med.get("reference"), dict):
            out["medicationReference"] = med["reference"]
    for key in ("medicationCodeableConcept", "medicationReference"):
        if key in resource:
            out[key] = resource[key]
    return out


def _already_r4(resource: dict) -> bool:
    """An R4 MedicationRequest with none of the shapes ``to_r4`` rewrites: the usual record, read as it is."""
    if "medication" in resource or "dosage" in resource:
        return False
    if "category" in resource and not isinstance(resource["category"], list):
        return False
    dosages = resource.get("dosageInstruction", ())
    if not isinstance(dosages, (list, tuple)):
        return False
    for dosage in dosages:
        if isinstance(dosage, dict):
            if not _LOOSE_KEYS.isdisjoint(dosage):
                return False
            timing = dosage.get("timing")
            repeat = timing.get("repeat") if isinstance(timing, dict) else None
            if isinstance(repeat, dict) and ("periodUnits" in repeat or isinstance(repeat.get("when"), str)):
                return False
    return True


def to_r4(resource: dict) -> dict:
    """A medication resource in R4 shape (other resource types, and R4 MedicationRequests that need no rewriting,
    are returned as they are: callers never modify it)."""
    kind = resource.get("resourceType")
    if kind not in ("MedicationOrder", "MedicationRequest", "MedicationStatement", "MedicationDispense"):
        return resource
    if kind == "MedicationRequest" and _already_r4(resource):
        return resource
    return _rewrite(resource, kind)


def _rewrite(resource: dict, kind: str) -> dict:
    out = {k: v for k, v in resource.items() if k not in ("medication",)}
    out.update(_medication_fields(resource))
    if kind == "MedicationOrder":  # DSTU2
        out["resourceType"] = "MedicationRequest"
        if "dateWritten" in resource:
            out.setdefault("authoredOn", resource["dateWritten"])
        if "patient" in resource:
            out.setdefault("subject", resource["patient"])
        if "reasonCodeableConcept" in resource:
            out["reasonCode"] = _as_list(resource["reasonCodeableConcept"])
        if isinstance(resource.get("reasonReference"), dict):
            out["reasonReference"] = [resource["reasonReference"]]
    if "category" in out and not isinstance(out["category"], list):
        out["category"] = [out["category"]]
    for key in ("dosageInstruction", "dosage"):
        if key in out:
            out[key] = [normalize_dosage(d) for d in _as_list(out[key])]
    if kind == "MedicationStatement" and "dosage" in out:
        out["dosageInstruction"] = out.pop("dosage")
    return out


# -- strict reading of drafts --------------------------------------------------------------------------------
_DRAFT_FIELDS = ("id", "status", "intent", "subject", "authoredOn", "medicationCodeableConcept",
                 "medicationReference", "dosageInstruction", "dispenseRequest", "priorPrescription",
                 "reasonCode", "reasonReference", "contained")


class DraftError(ValueError):
    """A draft order whose fields the rules read have the wrong type; ``field`` names the first one ("" for the
    draft as a whole)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def check_draft(r4_draft: dict, patient_id: str | None) -> None:
    """Validate the R4 view of a draft with fhir.resources; raise DraftError naming the bad field.

    Only the elements the rules read are checked: an EHR's extra or version-specific elements elsewhere in the
    draft do not make the service refuse it. Elements R4 requires but a draft may lack (intent, subject) get
    neutral defaults first.
    """
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    view = {k: r4_draft[k] for k in _DRAFT_FIELDS if k in r4_draft}
    view["resourceType"] = "MedicationRequest"
    view.setdefault("status", "draft")
    view.setdefault("intent", "order")
    view.setdefault("subject", {"reference": f"Patient/{patient_id or 'unknown'}"})
    if isinstance(view.get("contained"), list):
        view["contained"] = [c for c in view["contained"] if isinstance(c, dict) and c.get("resourceType") == "Medication"]
    try:
        MedicationRequest.model_validate(view)
    except RecursionError:
        raise DraftError("", "is nested too deeply to be read") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.get("loc", ()) if p != "__root__")
        raise DraftError(loc.lstrip("."), err.get("msg", "invalid")) from None


# -- writing resources for a client of another version --------------------------------------------------------
def from_r4(resource: dict, version: str) -> dict:
    """A MedicationRequest written in R4 (the card templates' shape) as the client's FHIR version expects:
    STU3 keeps the dose directly on Dosage; DSTU2 makes it a MedicationOrder (dateWritten, patient,
    periodUnits). Other resources and R4 are returned unchanged."""
    if version == "R4":
        return resource
    if resource.get("resourceType") == "ServiceRequest":
        return _service_request_from_r4(resource, version)
    if resource.get("resourceType") != "MedicationRequest":
        return resource
    out = dict(resource)
    dosages = []
    for dosage in items(out.get("dosageInstruction")):
        d = {k: v for k, v in dosage.items() if k != "doseAndRate"}
        for entry in items(dosage.get("doseAndRate")):
            for key in _DOSE_KEYS:
                if key in entry:
                    d.setdefault(key, entry[key])
        if version == "DSTU2" and isinstance(d.get("timing"), dict) and isinstance(d["timing"].get("repeat"), dict):
            repeat = dict(d["timing"]["repeat"])
            if "periodUnit" in repeat:
                repeat["periodUnits"] = repeat.pop("periodUnit")
            d["timing"] = {**d["timing"], "repeat": repeat}
        dosages.append(d)
    if dosages:
        out["dosageInstruction"] = dosages
    if version == "DSTU2":
        out["resourceType"] = "MedicationOrder"
        out.pop("intent", None)
        if "authoredOn" in out:
            out["dateWritten"] = out.pop("authoredOn")
        if "subject" in out:
            out["patient"] = out.pop("subject")
    return out


def _service_request_from_r4(resource: dict, version: str) -> dict:
    """An R4 ServiceRequest as STU3 ProcedureRequest or DSTU2 DiagnosticOrder (their predecessors)."""
    if version == "STU3":
        return {**resource, "resourceType": "ProcedureRequest"}
    out = {"resourceType": "DiagnosticOrder", "status": "draft", "subject": resource.get("subject"),
           "item": [{"code": resource.get("code")}]}
    if resource.get("reasonCode"):
        out["reason"] = resource["reasonCode"]
    return out
