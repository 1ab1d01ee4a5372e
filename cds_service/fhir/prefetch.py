"""Prefetch templates, reading prefetch values, and fetching what the client did not send.

A prefetch value may be a searchset Bundle, a single resource, ``null`` (the client has no data: an empty,
satisfied key) or an ``OperationOutcome`` (the client failed: treated as not prefetched). Every resource found
under any key is indexed by type, because clients may use keys of their own. A key counts as
prefetched when it was answered, or when one of the client's own keys delivered resources of its type.

What is still missing is fetched from ``fhirServer`` when that server is allow-listed. If the medication
list (MedicationRequest, or DSTU2 MedicationOrder) can be had neither way the hook answers 412 (CDS Hooks 2.0,
"Prefetch"); statements, dispenses, conditions, observations and the Patient only make the rules that read
them work with less, and the record says what was missing.

Epic's prefetch names a medication by ``medicationReference`` with only a display; the Medication resources
themselves (their codes and ingredients) are then fetched from the same allow-listed server in one search
(``Medication?_id=...``). When that fails or is not allowed, the display name identifies the drug.
"""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
import re
from typing import Any, Callable, Iterable

from ..knowledge.lenient import items, reference_parts
from .. import outbound
from .client import FhirClient

log = logging.getLogger(__name__)
_DATA = Path(__file__).resolve().parents[1] / "data"
_SERVICES = json.loads((_DATA / "services.json").read_text(encoding="utf-8"))
_OBSERVATION_CODES = json.loads((_DATA / "observation_codes.json").read_text(encoding="utf-8"))
PREFETCH: dict[str, dict] = _SERVICES["prefetch"]
KEY_TYPES = {key: tuple(spec["types"]) for key, spec in PREFETCH.items()}


@functools.cache  # the code lists are data files, read once: discovery and every fetch ask for it
def _observation_code_param() -> str:
    from ..knowledge.observations import group_codes

    return ",".join(f"{group['system']}|{code}" for name, group in _OBSERVATION_CODES.items()
                    if not name.startswith("_") and group["system"] for code in sorted(group_codes(name)))


def prefetch_templates(dstu2: bool = False) -> dict[str, str]:
    """The templates announced in discovery (only the root-level token ``{{context.patientId}}``). ``dstu2``:
    the forms a DSTU2 server answers (MedicationOrder, not MedicationRequest), announced by the CDS Hooks 1.0
    medication-prescribe service so that a DSTU2 client can fill them."""
    return {key: query.replace("{{observation_codes}}", _observation_code_param())
            for key in PREFETCH if (query := _query(key, dstu2)) is not None}


def _query(key: str, dstu2: bool) -> str | None:
    """A key's search; None when the FHIR version has no such resource ("dstu2": null)."""
    spec = PREFETCH[key]
    return spec["dstu2"] if dstu2 and "dstu2" in spec else spec["query"]


_TOKEN = re.compile(r"[\x21-\x7e]{1,16384}")


def _usable_token(token: str | None) -> bool:
    """A bearer token HTTP can carry (printable ASCII, RFC 6750); any other is never sent (and said once)."""
    if token is None or _TOKEN.fullmatch(token):
        return True
    log.warning("fhirAuthorization.access_token is not printable ASCII; nothing fetched")
    return False


class PreconditionFailed(Exception):
    """The patient's medication list could be had neither from prefetch nor from the FHIR server (412)."""


def about_other_patient(resource: dict, patient_id: str | None) -> bool:
    """True when a resource's ``subject`` or ``patient`` names someone other than the patient in context
    (relative "Patient/1", absolute "https://.../Patient/1", with or without "/_history/n"), or a Patient
    resource has another id. A reference that cannot be read as one (display or identifier only, urn:uuid)
    does not exclude: prefetch and fallback searches are already scoped to the patient."""
    if not patient_id:
        return False
    if resource.get("resourceType") == "Patient":
        return isinstance(resource.get("id"), str) and resource["id"] != patient_id
    for key in ("subject", "patient"):
        parts = reference_parts(resource.get(key))
        if parts is not None and parts != ("Patient", patient_id):
            return True
    return False


@dataclass
class PatientRecord:
    """Every resource known for this call about the patient in context, by type, and what could not be had."""

    resources: dict[str, list[dict]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # prefetch keys neither prefetched nor fetched
    failed: list[str] = field(default_factory=list)  # prefetch keys whose fetch failed (a subset of missing)
    patient_id: str | None = None
    foreign: int = 0  # resources about another patient: ignored, never used

    def of_type(self, *types: str) -> list[dict]:
        return [r for t in types for r in self.resources.get(t, [])]

    def add(self, resource: Any) -> bool:
        """Keep a resource about the patient in context; False (and counted) for another patient's."""
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            return False
        if about_other_patient(resource, self.patient_id):
            self.foreign += 1
            return False
        self.resources.setdefault(resource["resourceType"], []).append(resource)
        return True

    def find(self, reference: str) -> dict | None:
        kind, _, rid = reference.partition("/")
        return next((r for r in self.resources.get(kind, []) if r.get("id") == rid), None)


def _resources_of(value: Any) -> list[dict] | None:
    """Resources in one prefetch value; None when the value is not usable (OperationOutcome, junk)."""
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return None
    if value["resourceType"] == "OperationOutcome":
        return None
    if value["resourceType"] == "Bundle":
        out = []
        entries = value.get("entry")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                res = entry["resource"]
                if res.get("resourceType") != "OperationOutcome":
                    out.append(res)
        return out
    return [value]


_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_MEDICATION_USERS = ("MedicationRequest", "MedicationOrder", "MedicationStatement", "MedicationDispense")
MAX_MEDICATION_FETCH = 100


def _medication_id(reference: Any, fhir_server: str | None) -> str | None:
    """The id of a Medication a reference points to on the EHR's own server ("Medication/123", or that
    server's absolute URL); None for contained, foreign or malformed references."""
    parts = reference_parts(reference)
    if parts is None or parts[0] != "Medication" or not _FHIR_ID.fullmatch(parts[1]):
        return None
    target = reference["reference"]
    if "://" in target and not (fhir_server and target.startswith(fhir_server.rstrip("/") + "/")):
        return None  # on another server: never fetched with this server's token
    return parts[1]


def _wanted_medications(record: "PatientRecord", references: Iterable[Any], fhir_server: str | None) -> list[str]:
    refs = list(references) + [r.get("medicationReference") for r in record.of_type(*_MEDICATION_USERS)]
    have = {r.get("id") for r in record.of_type("Medication")}
    ids = dict.fromkeys(i for i in (_medication_id(r, fhir_server) for r in refs) if i and i not in have)
    return list(ids)[:MAX_MEDICATION_FETCH]


def _searched_types(value: Any) -> set[str]:
    """The resource type a searchset Bundle's self link searched ("…/MedicationRequest?patient=…"): an empty
    search under a site's own key (Epic: only an OperationOutcome entry, search.mode "outcome") still answers
    for that type."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
        return set()
    for link in items(value.get("link")):
        if isinstance(link, dict) and link.get("relation") == "self" and isinstance(link.get("url"), str):
            kind = link["url"].split("?")[0].rstrip("/").rsplit("/", 1)[-1]
            return {kind} if re.fullmatch(r"[A-Z][A-Za-z]{1,63}", kind) else set()
    return set()


def gather(prefetch: dict | None, patient_id: str, fhir_server: str | None, access_token: str | None,
           allowlist: list[str], dstu2: bool, client_factory: Callable[..., FhirClient] = FhirClient,
           client_options: dict | None = None, medication_references: Iterable[Any] = ()) -> PatientRecord:
    """Read the prefetch, fetch what is missing from an allow-listed server, and say what is still missing.
    ``medication_references``: the drafts' references to Medication resources the request did not carry."""
    record = PatientRecord(patient_id=patient_id)
    answered: set[str] = set()
    delivered: set[str] = set()  # resource types the client sent under keys of its own
    site_answered = False  # the client filled prefetch templates of its own
    for key, value in (prefetch or {}).items():
        if key not in PREFETCH:
            site_answered = True
        resources = _resources_of(value)
        if resources is None:
            continue
        kept = [res for res in resources if record.add(res)]
        if resources and not kept:
            continue  # every resource was another patient's: the key answers nothing about this one
        if key in PREFETCH:
            answered.add(key)
        else:
            delivered.update(r["resourceType"] for r in kept)
            delivered.update(_searched_types(value))
    wanted = {key: query for key in PREFETCH
              if key not in answered and not delivered.intersection(KEY_TYPES[key])
              and (query := _query(key, dstu2)) is not None}
    on_list = bool(fhir_server) and outbound.allowed(fhir_server, allowlist)
    allowed = on_list and _usable_token(access_token)
    client: FhirClient | None = None
    if wanted:
        queries = {key: q.replace("{{context.patientId}}", patient_id)
                   .replace("{{observation_codes}}", _observation_code_param()) for key, q in wanted.items()}
        if allowed:
            client = client_factory(fhir_server, access_token, **(client_options or {}))
            for key, result in client.search_all(queries).items():
                if isinstance(result, Exception):
                    log.warning("FHIR fetch failed for prefetch key %s: %s", key, result)
                    record.missing.append(key)
                    record.failed.append(key)
                else:
                    for res in result:
                        record.add(res)
        else:
            if fhir_server and not on_list:
                log.warning("fhirServer is not on the allow-list; nothing fetched")
            record.missing.extend(wanted)
    medication_ids = _wanted_medications(record, medication_references, fhir_server) if allowed else []
    if medication_ids:
        client = client or client_factory(fhir_server, access_token, **(client_options or {}))
        result = client.search_all({"medications": f"Medication?_id={','.join(medication_ids)}"})["medications"]
        if isinstance(result, Exception):
            log.warning("FHIR fetch of %d referenced Medication resources failed: %s", len(medication_ids), result)
        else:
            for res in result:
                if isinstance(res, dict) and res.get("resourceType") == "Medication":
                    record.add(res)
    if record.foreign:
        log.warning("%d resources about another patient than the one in context were ignored", record.foreign)
    required = [k for k, spec in PREFETCH.items() if spec.get("required")]
    lost = [k for k in required if k in record.missing and k not in record.failed]
    # A client that filled prefetch templates of its own (Epic, the CDC opioid CDS test requests' item1..item16,
    # often null: "no data") has sent what it has; a medication list it did not send is reported on the cards
    # as not available rather than refused, because a refused call shows the prescriber nothing.
    if lost and site_answered:
        lost = []
    lost += [k for k in required if k in record.failed]
    if lost:
        raise PreconditionFailed(
            "the patient's medication list was not prefetched and could not be fetched from the FHIR server "
            f"(missing: {', '.join(lost)})")
    return record
