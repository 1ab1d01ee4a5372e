"""Patient facts: the drafts, current and past medications, conditions and observations, in the shape the
rules read (docs/clinical-rules.md §1.1), and the questions rules ask of them. Which records are current or history, and
what their references point to, is read in ``fhir/records.py``; a record that is one of this call's drafts
is not counted again.

A medication's daily dose and supply are computed when a rule first asks (``MedicationUse.dose``), and never for
history records: on a long list most records are only read for what and when.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from typing import Any

from .fhir.prefetch import PatientRecord
from .fhir.records import DISCONTINUE, classify, resolve
from .hooks import OrderContext
from .knowledge.drugs import DoseForm, DrugKnowledge, Product
from .knowledge.medication import MedicationUse, route_of_dosage
from .knowledge.names import names_a_patch
from .knowledge.patient import (CodeList, age_on, code_lists, condition_is_active, in_care_of_list,
                                latest_documented)
from .knowledge.lenient import items, parse_date
from .knowledge.observations import (Measurement, Phenotype, Pregnancy, RenalFunction, cyp2d6_phenotype,
                                     latest_qtc, renal_function)
from .knowledge.observations import condition_date
from .knowledge.observations import pregnancy as pregnancy_of

log = logging.getLogger(__name__)

@dataclass
class PatientFacts:
    today: date
    patient: dict | None
    drafts: list[MedicationUse]
    reported: list[MedicationUse]
    current: list[MedicationUse]
    history: list[MedicationUse]
    conditions: list[dict]
    observations: list[dict]
    missing: list[str] = field(default_factory=list)
    unidentified: list[str] = field(default_factory=list)  # codes of drugs no rule can recognise
    procedures: list[dict] = field(default_factory=list)
    lists: dict[str, CodeList] = field(default_factory=code_lists)
    stops: list[MedicationUse] = field(default_factory=list)  # drafts that discontinue an order (status stopped)
    care: list[dict] = field(default_factory=list)  # ServiceRequests and Encounters (hospice, palliative care)
    unknowns: list[tuple[str, str]] = field(default_factory=list)  # (rule id, what it could not know): logged
    other_drafts_orders: list[dict] = field(default_factory=list)  # drafts that are not medications (ServiceRequest)
    renal_window: int = 365  # days a renal result counts (setting RENAL_RESULT_MAX_AGE_DAYS)
    _regimen_mme: Any = field(default=None, repr=False)
    _has_condition: dict = field(default_factory=dict, repr=False)  # several rules ask the same question
    _of_classes: dict = field(default_factory=dict, repr=False)  # class names -> current meds and drafts of them

    def regimen_mme(self):
        """MME/day of the opioids the patient will take once the drafts are signed (computed once per call)."""
        if self._regimen_mme is None:
            from .knowledge.exposure import regimen_with_drafts
            from .knowledge.mme import daily_mme

            self._regimen_mme = daily_mme(regimen_with_drafts(self.current_opioids, self.drafts))
        return self._regimen_mme

    @cached_property
    def current_opioids(self) -> list[MedicationUse]:
        """The current medications that are opioids (what MME totals and tapers are about)."""
        return [u for u in self.current if u.is_opioid]

    @property
    def age(self) -> int | None:
        return age_on(self.birth_date, self.today)

    def has_condition(self, list_name: str, active_only: bool = True) -> bool:
        """A Condition of the list, active unless ``active_only`` is False (history counts: e.g. overdose)."""
        key = (list_name, active_only)
        if key not in self._has_condition:
            code_list = self.lists[list_name]
            self._has_condition[key] = any(
                code_list.matches_concept(c.get("code")) and (not active_only or condition_is_active(c, self.today))
                for c in self.conditions)
        return self._has_condition[key]

    def indicated_for(self, draft: MedicationUse, list_name: str) -> bool:
        """The draft's indication (reasonCode/reasonReference) is in the list; without one, an active Condition is."""
        if draft.reasons:
            return any(self.lists[list_name].matches_concept(r) for r in draft.reasons)
        return self.has_condition(list_name)

    @property
    def serious_illness(self) -> bool:
        """Cancer, sickle cell disease, palliative, hospice or end-of-life care (docs/clinical-rules.md §1.5), as a Condition, as
        current care (a hospice referral, a palliative care encounter) or as the indication of a draft being
        ordered (an opioid ordered for G89.3 cancer pain): excludable rules stay silent."""
        if "serious_illness_care" not in self._has_condition:
            code_list = self.lists["serious_illness"]
            self._has_condition["serious_illness_care"] = in_care_of_list(
                self.procedures + self.care, code_list, self.today) or any(
                code_list.matches_concept(r) for d in self.drafts for r in d.reasons)
        return self.has_condition("serious_illness") or self._has_condition["serious_illness_care"]

    def excluded(self, exclusion: str) -> bool:
        """The patient is in an exclusion the engine applies before a rule runs (rules/base.py EXCLUSIONS)."""
        if exclusion == "serious_illness":
            return self.serious_illness
        return self._in_list_or_care("end_of_life")

    def _in_list_or_care(self, list_name: str) -> bool:
        key = (list_name, "care")
        if key not in self._has_condition:
            code_list = self.lists[list_name]
            self._has_condition[key] = self.has_condition(list_name) or in_care_of_list(
                self.procedures + self.care, code_list, self.today) or any(
                code_list.matches_concept(r) for d in self.drafts for r in d.reasons)
        return self._has_condition[key]

    def unknown(self, rule_id: str, what: str) -> None:
        """A rule could not know ``what`` (e.g. "renal function: no creatinine or eGFR in 365 days") and ran
        with less; the engine logs it. ``what`` names a kind of fact, never a value of this patient."""
        self.unknowns.append((rule_id, what))

    def documented(self, group: str, within_days: int) -> dict | None:
        """The latest Observation or Procedure of ``group`` ("ecg", "opioid_risk_screening") within the window."""
        return latest_documented(self.observations + self.procedures, group, self.today, within_days)

    @property
    def exposures(self) -> list[MedicationUse]:
        """Every non-draft record, current and past (for exposure history)."""
        return self.current + self.history

    def alongside(self, draft: MedicationUse) -> list[MedicationUse]:
        """What the patient takes or is being given together with ``draft``: current meds and other drafts."""
        return self.current + [d for d in self.drafts if d.ref != draft.ref]

    def alongside_with(self, draft: MedicationUse, *classes: str) -> list[MedicationUse]:
        """``alongside(draft)`` limited to medications of any of ``classes``, in the same order. The medications
        of each class are found once per call, so a pair rule stays linear in the number of drafts (scanning
        everything alongside every draft grew with their square)."""
        if classes not in self._of_classes:
            self._of_classes[classes] = [u for u in self.current + self.drafts if u.has_class(*classes)]
        return [u for u in self._of_classes[classes] if u.ref != draft.ref]

    def other_drafts(self, draft: MedicationUse) -> list[MedicationUse]:
        return [d for d in self.drafts if d.ref != draft.ref]

    @property
    def birth_date(self) -> date | None:
        return parse_date((self.patient or {}).get("birthDate"))

    # -- second-wave measurements (docs/clinical-rules.md §4.1; knowledge/observations.py) --------------------
    def renal(self, within_days: int | None = None) -> RenalFunction:
        """Creatinine clearance from the newest creatinine (Cockcroft-Gault) or eGFR within the window (the
        site's RENAL_RESULT_MAX_AGE_DAYS unless given)."""
        within_days = self.renal_window if within_days is None else within_days
        key = ("renal", within_days)
        if key not in self._has_condition:
            self._has_condition[key] = renal_function(self.patient, self.observations, self.today, within_days,
                                                      self.age)
        return self._has_condition[key]

    def qtc(self, within_days: int) -> Measurement | None:
        return latest_qtc(self.observations, self.today, within_days)

    @cached_property
    def cyp2d6(self) -> Phenotype | None:
        return cyp2d6_phenotype(self.observations)

    @cached_property
    def pregnancy(self) -> Pregnancy:
        return pregnancy_of(self.conditions, self.observations, self.today, self.lists["pregnancy"],
                         lambda c: condition_is_active(c, self.today))

    def condition_since(self, list_name: str, since: date) -> dict | None:
        """An active Condition of the list recorded (or with onset) on or after ``since``."""
        code_list = self.lists[list_name]
        for c in self.conditions:
            when = condition_date(c)
            if when is not None and since <= when <= self.today and code_list.matches_concept(c.get("code")) \
                    and condition_is_active(c, self.today):
                return c
        return None


class FactBuilder:
    def __init__(self, knowledge: DrugKnowledge, extra_code_lists: dict | None = None, renal_window: int = 365):
        self.knowledge = knowledge
        self.lists = code_lists(extra_code_lists)
        self.renal_window = renal_window

    def _product(self, r4: dict, record: PatientRecord, bundle: list[dict]) -> Product | None:
        ref = r4.get("medicationReference")
        medication = resolve(ref, record, bundle, r4.get("contained"))
        if medication is None and isinstance(ref, dict) and isinstance(ref.get("display"), str):
            return self.knowledge.identify({"text": ref["display"]})  # Epic's prefetch: a display only
        concept = r4.get("medicationCodeableConcept")
        return self.knowledge.identify(concept if isinstance(concept, dict) else None, medication)

    def _use(self, r4: dict, ref: str, kind: str, role: str, start: date | None, end: date | None,
             record: PatientRecord, bundle: list[dict], unidentified: list[str]) -> MedicationUse:
        product = self._product(r4, record, bundle)
        if (product is not None and product.form.patch and route_of_dosage(r4) == "injection"
                and not names_a_patch(product.name)):
            # "fentanyl 25 mcg/hr" given intravenously: a rate per hour, not a transdermal system
            product = replace(product, form=DoseForm("injection", False, False, True))
        concept = r4.get("medicationCodeableConcept") if isinstance(r4.get("medicationCodeableConcept"), dict) else {}
        display = (product.name if product else None) or concept.get("text") or next(
            (c.get("display") for c in items(concept.get("coding")) if isinstance(c, dict) and c.get("display")),
            "unrecognised medication")
        if product is None:
            codes = [str(c.get("code")) for c in items(concept.get("coding")) if isinstance(c, dict) and c.get("code")]
            unidentified.append(",".join(codes) or "no code")
        prior = r4.get("priorPrescription")
        prior_ref = prior.get("reference") if isinstance(prior, dict) and isinstance(prior.get("reference"), str) else None
        return MedicationUse(ref, kind, role, str(display), product, r4, start, end, str(r4.get("status") or ""),
                             prior_ref, self._reasons(r4, record, bundle))

    @staticmethod
    def _reasons(r4: dict, record: PatientRecord, bundle: list[dict]) -> tuple[dict, ...]:
        if "reasonCode" not in r4 and "reasonReference" not in r4:
            return ()
        reasons = [c for c in items(r4.get("reasonCode")) if isinstance(c, dict)]
        for ref in items(r4.get("reasonReference")):
            found = resolve(ref, record, bundle)
            if found and isinstance(found.get("code"), dict):
                reasons.append(found["code"])
            elif isinstance(ref.get("display"), str):
                reasons.append({"text": ref["display"]})
        return tuple(reasons)

    def build(self, ctx: OrderContext, record: PatientRecord, today: date) -> PatientFacts:
        unidentified: list[str] = []
        bundle = ctx.other_resources
        drafts: list[MedicationUse] = []
        reported: list[MedicationUse] = []
        stops: list[MedicationUse] = []
        for d in ctx.drafts:
            if not d.has_medication:
                continue
            start = parse_date(d.r4.get("authoredOn")) or today
            use = self._use(d.r4, d.ref, d.original["resourceType"], "draft", start, None, record, bundle, unidentified)
            if use.status in DISCONTINUE:
                stops.append(use)  # an order to stop a medication, not a new one
                continue
            drafts.append(use)
            if d.reported:
                reported.append(use)
        draft_refs = {d.ref for d in ctx.drafts}
        current: list[MedicationUse] = []
        history: list[MedicationUse] = []
        for res in record.of_type("MedicationRequest", "MedicationOrder", "MedicationStatement", "MedicationDispense"):
            kind = res.get("resourceType")
            ref = f"{kind}/{res.get('id')}"
            if ref in draft_refs:
                continue
            try:
                placed = classify(res, kind, today)
            except (AttributeError, TypeError, ValueError):  # a malformed old record: skip it, log the type only
                log.info("skipped an unreadable %s record", kind)
                continue
            if placed is None:
                continue
            role, r4, start, end = placed
            use = self._use(r4, ref, kind, role, start, end, record, bundle, unidentified)
            (current if role == "current" else history).append(use)
        if unidentified:
            # How many, not which: a patient's medication names are clinical data and stay out of the logs.
            log.info("%d medication records could not be identified (no known RxNorm code or name)",
                     len(unidentified))
        patients = record.of_type("Patient")
        patient = next((p for p in patients if p.get("id") == ctx.patient_id), patients[0] if patients else None)
        return PatientFacts(today, patient, drafts, reported, current, history,
                            record.of_type("Condition"), record.of_type("Observation"),
                            list(record.missing), unidentified, record.of_type("Procedure"), self.lists, stops,
                            record.of_type("ServiceRequest", "Encounter"),
                            other_drafts_orders=[r for r in ctx.other_resources if r.get("resourceType") != "Medication"],
                            renal_window=self.renal_window)
