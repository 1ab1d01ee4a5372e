"""Hook adapters: each medication hook's context becomes one OrderContext.

- ``order-select``: the drafts named in ``context.selections`` are reported on; the other drafts in
  ``context.draftOrders`` count as medications ordered alongside (docs/clinical-rules.md §1.1).
- ``order-sign``: every draft in ``context.draftOrders`` is reported on.
- ``medication-prescribe`` (CDS Hooks 1.0): ``context.medications``, an array of resources or a Bundle.

Drafts may be DSTU2 ``MedicationOrder`` or STU3/R4 ``MedicationRequest``; other resource types in a draft
bundle (ServiceRequest, a Medication referenced by a draft) are kept for reference but never reported on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..fhir.versions import DraftError, check_draft, to_r4
from ..knowledge.lenient import items

MEDICATION_ORDER_TYPES = ("MedicationRequest", "MedicationOrder")


class HookError(ValueError):
    """The hook context is unusable; ``field`` names where (a 400 for the client)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass
class DraftOrder:
    ref: str  # "MedicationRequest/abc" (synthesised "MedicationRequest/#2" when the draft has no id)
    has_id: bool
    original: dict
    r4: dict
    path: str
    reported: bool

    @property
    def has_medication(self) -> bool:
        return any(k in self.r4 for k in ("medicationCodeableConcept", "medicationReference"))


@dataclass
class OrderContext:
    hook: str
    patient_id: str
    user_id: str | None
    drafts: list[DraftOrder]
    fhir_version: str  # "DSTU2", "STU3" or "R4": the version suggestions are written in
    other_resources: list[dict] = field(default_factory=list)
    client: str = "standard"  # "epic" when the request carries Epic's extensions (see ``client_of``)

    @property
    def reported(self) -> list[DraftOrder]:
        return [d for d in self.drafts if d.reported]


def _entries(value: Any, path: str) -> list[tuple[dict, str]]:
    if isinstance(value, list):
        return [(r, f"{path}[{i}]") for i, r in enumerate(value) if isinstance(r, dict)]
    if isinstance(value, dict) and value.get("resourceType") == "Bundle":
        return [(e["resource"], f"{path}.entry[{i}].resource") for i, e in enumerate(items(value.get("entry")))
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    if isinstance(value, dict) and isinstance(value.get("resourceType"), str):
        return [(value, path)]
    raise HookError(path, "expected a Bundle or an array of resources")


def order_context(body: dict, max_drafts: int | None = None) -> OrderContext:
    """Build the OrderContext for a validated hook request body.

    More than ``max_drafts`` medication orders is a HookError: the pair rules' work grows with the square of
    the drafts, and checking only some of an order set would be a silent gap; the client is told to split it."""
    hook, ctx = body["hook"], body["context"]
    if hook == "medication-prescribe":
        items = _entries(ctx.get("medications"), "context.medications")
        selections = None
    else:
        items = _entries(ctx.get("draftOrders"), "context.draftOrders")
        selections = ctx.get("selections") if hook == "order-select" else None
    drafts: list[DraftOrder] = []
    others: list[dict] = []
    for index, (resource, path) in enumerate(items):
        kind = resource.get("resourceType")
        if kind not in MEDICATION_ORDER_TYPES:
            others.append(resource)
            continue
        rid = resource.get("id")
        has_id = isinstance(rid, str) and bool(rid)
        ref = f"{kind}/{rid}" if has_id else f"{kind}/#{index}"
        r4 = to_r4(resource)
        drafts.append(DraftOrder(ref, has_id, resource, r4, path, True))
        if max_drafts is not None and len(drafts) > max_drafts:
            where = "context.medications" if hook == "medication-prescribe" else "context.draftOrders"
            raise HookError(where, f"more than {max_drafts} medication orders in one call; send them in parts "
                                   "(setting MAX_DRAFT_ORDERS)")
    if selections is not None:
        refs = {d.ref for d in drafts}
        all_refs = refs | {f"{r.get('resourceType')}/{r.get('id')}" for r in others}
        for i, sel in enumerate(selections):
            if sel not in all_refs:
                raise HookError(f"context.selections[{i}]", f"'{sel}' names no resource in context.draftOrders")
        for d in drafts:
            d.reported = d.ref in selections
    patient_id = str(ctx["patientId"]).removeprefix("Patient/")  # the CDC test suite sends "Patient/<id>"
    for d in drafts:
        if d.has_medication:
            try:
                check_draft(d.r4, patient_id)
            except DraftError as exc:
                raise HookError(f"{d.path}.{exc.field}" if exc.field else d.path, exc.message) from None
    version = _fhir_version(drafts)
    return OrderContext(hook, patient_id, ctx.get("userId"), drafts, version, others, client_of(body))


EPIC_REQUEST_EXTENSION = "com.epic.cdshooks.request."


def client_of(body: dict) -> str:
    """``epic`` when the request carries Epic's request extensions (a top-level ``extension`` object with keys
    ``com.epic.cdshooks.request.*``, as Epic's CDS Hooks tutorial documents), else ``standard``."""
    extension = body.get("extension")
    if isinstance(extension, dict) and any(isinstance(k, str) and k.startswith(EPIC_REQUEST_EXTENSION)
                                           for k in extension):
        return "epic"
    return "standard"


def _fhir_version(drafts: list[DraftOrder]) -> str:
    """DSTU2 for MedicationOrder; STU3 when a MedicationRequest keeps its dose directly on Dosage and never
    uses R4's doseAndRate (the sandbox's R4 quirk puts doseQuantity outside doseAndRate too, but R4 clients
    send category as a list or doseAndRate somewhere); otherwise R4."""
    if any(d.original.get("resourceType") == "MedicationOrder" for d in drafts):
        return "DSTU2"
    dosages = [x for d in drafts for x in items(d.original.get("dosageInstruction")) if isinstance(x, dict)]
    if dosages and not any("doseAndRate" in x for x in dosages) and any(
            k in x for x in dosages for k in ("doseQuantity", "doseRange")) and not any(
            isinstance(d.original.get("category"), list) for d in drafts):
        return "STU3"
    return "R4"
