"""One hook call from request body to cards: adapter -> FHIR data -> facts -> rules -> cards.

No HTTP here: the API layer turns the exceptions below into status codes, and the command line uses the same
engine to evaluate a request file.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass, field
from datetime import date
from typing import Callable

from .cards import CardCatalog, RenderContext, Shown, order_cards
from .facts import FactBuilder
from .fhir.client import FhirClient
from .fhir.prefetch import gather
from .fhir.versions import check_draft
from .fhir.prefetch import PreconditionFailed  # noqa: F401  (re-exported for the API layer)
from .hooks import HookError, OrderContext, order_context  # noqa: F401
from .hooks.cdc_suite import prefetch_of, roll_request
from .knowledge.drugs import DrugKnowledge
from .knowledge.lenient import reference_parts
from .memory import Memory
from .rules import DEFAULT_PARAMS, RULES, Finding, Rule

log = logging.getLogger(__name__)


@dataclass
class Result:
    cards: list[dict]
    rule_ids: list[str] = field(default_factory=list)  # rule id of each card, in order
    missing: list[str] = field(default_factory=list)  # prefetch keys neither prefetched nor fetched
    failed: list[str] = field(default_factory=list)  # prefetch keys whose FHIR fetch failed
    unrecognised: int = 0  # medication records no rule could identify
    rule_errors: list[str] = field(default_factory=list)  # rules that raised (a defect): logged and counted
    foreign: int = 0  # resources about another patient, ignored
    folded: list[tuple[str, ...]] = field(default_factory=list)  # per card: rules folded into it as lines
    suppressed: list[str] = field(default_factory=list)  # rules of findings an earlier answer silenced
    remembered: list[tuple[str, str, str | None]] = field(default_factory=list)  # (card, session key, snooze key)


class Engine:
    def __init__(self, settings: dict, knowledge: DrugKnowledge | None = None,
                 client_factory: Callable[..., FhirClient] = FhirClient):
        self.settings = settings
        self.knowledge = knowledge or DrugKnowledge.load()
        self.facts = FactBuilder(self.knowledge, settings["CODE_LISTS_EXTRA"], settings["RENAL_RESULT_MAX_AGE_DAYS"])
        self.rules = enabled_rules(settings)
        self.params = {rid: {**DEFAULT_PARAMS[rid], **settings["RULE_PARAMS"].get(rid, {})} for rid in RULES}
        self.catalog = CardCatalog(settings["CARDS_DIR"], {rid: r.fields for rid, r in RULES.items()})
        self.client_factory = client_factory
        # Import and build the strict draft model now (about 0.2 s), with every element the check reads (the
        # model imports the classes of an element when it first meets one: tens of milliseconds in the first
        # prescriber's call otherwise), before gunicorn forks so that every worker shares them.
        check_draft(_WARM_UP_DRAFT, None)

    def evaluate(self, body: dict, today: date, memory: Memory | None = None, now: float = 0.0) -> Result:
        """Cards for a schema-valid hook request. Raises HookError (400) or PreconditionFailed (412).

        With ``memory``, findings an earlier answer silences (at epoch second ``now``) are left out and counted."""
        body = roll_request(body, today)  # the CDC test requests' dates, moved to today
        ctx = order_context(body, self.settings["MAX_DRAFT_ORDERS"])
        refs = [d.ref for d in ctx.drafts]
        if len(set(refs)) != len(refs):  # one id, two drafts: a card (or a remembered answer) could name the wrong one
            twice = next(r for r in refs if refs.count(r) > 1)
            raise HookError("context.draftOrders", f"two drafts share the id {twice.rpartition('/')[2][:64]!r}")
        reported = [d for d in ctx.reported if d.has_medication]
        if not reported:
            return Result([])  # e.g. the sandbox's draft before a drug is chosen
        auth = body.get("fhirAuthorization") or {}
        options = {"connect_timeout": self.settings["FHIR_CONNECT_TIMEOUT"],
                   "read_timeout": self.settings["FHIR_READ_TIMEOUT"],
                   "max_pages": self.settings["FHIR_MAX_PAGES"], "max_bytes": self.settings["FHIR_MAX_BYTES"],
                   "max_resources": self.settings["FHIR_MAX_RESOURCES"],
                   "deadline": self.settings["FHIR_DEADLINE"]}
        unresolved = _unresolved_medications(ctx)
        record = gather(prefetch_of(body), ctx.patient_id, body.get("fhirServer"), auth.get("access_token"),
                        self.settings["FHIR_SERVER_ALLOWLIST"], ctx.fhir_version == "DSTU2",
                        self.client_factory, options, unresolved)
        facts = self.facts.build(ctx, record, today)
        findings: list[Finding] = []
        rule_errors: list[str] = []
        seen: set = set()
        missing = set(record.missing) | set(record.failed)
        for rule_id, rule in self.rules.items():
            if rule.exclusion is not None and facts.excluded(rule.exclusion):
                continue
            if rule.prefetch_keys & missing:  # the rule runs with less; which facts, never which patient
                log.info("rule %s ran without %s", rule_id, ", ".join(sorted(rule.prefetch_keys & missing)))
            try:
                produced = rule.evaluate(facts, self.params[rule_id])
            except RecursionError:  # input nested too deeply: refuse the call (400) rather than drop a card
                raise
            except Exception as exc:  # a defect in one rule must not take the other rules' cards away
                # Type and code lines only: an exception's message may quote patient data.
                log.error("rule %s failed: %s\n%s", rule_id, type(exc).__name__,
                          "".join(traceback.format_tb(exc.__traceback__)))
                rule_errors.append(rule_id)
                continue
            for finding in produced:
                if finding.key() not in seen:
                    seen.add(finding.key())
                    findings.append(finding)
        for rule_id, what in facts.unknowns:
            log.info("rule %s: %s", rule_id, what)
        findings = widest(findings)
        client = ctx.client if self.settings["CLIENT_PROFILE"] == "auto" else self.settings["CLIENT_PROFILE"]
        render_ctx = RenderContext(ctx.patient_id, today.isoformat(), ctx.fhir_version,
                                   self.settings["RULE_INDICATORS"], client)
        shown = [Shown(self.catalog.render(f, render_ctx), f.rule_id, f) for f in findings]
        if self.settings["FOLD_INTO_CRITICAL"]:
            shown = self.catalog.fold(shown, {d.ref for d in ctx.drafts})
        suppressed: list[str] = []
        keys: dict[int, tuple[str, str | None]] = {}
        if memory is not None:
            server = body.get("fhirServer") if isinstance(body.get("fhirServer"), str) else ""
            for s in shown:  # the same finding: the same draft, the same rule saying the same words, one patient
                snooze = s.card["indicator"] != "critical" and self.catalog.can_snooze(s.rule_id)
                draft = _as_ordered(s.finding.draft) if s.finding is not None else ""
                keys[id(s)] = (memory.session_key(server, ctx.patient_id, s.rule_id,
                                                  draft + "\n" + s.card["summary"] + "\n" + s.card["detail"]),
                               memory.snooze_key(server, ctx.patient_id, s.rule_id) if snooze else None)
            silenced = memory.silenced({k for pair in keys.values() for k in pair if k}, now)
            suppressed = [r for s in shown if silenced & set(keys[id(s)]) for r in (s.rule_id, *s.folded)]
            shown = [s for s in shown if not silenced & set(keys[id(s)])]
        # A critical check that could not run is shown, not silently lost.
        shown += [Shown(self.catalog.render_failure(rid, render_ctx), "check-failed")
                  for rid in rule_errors if self.catalog.is_critical(rid)]
        kept = order_cards(shown, self.settings["MAX_CARDS"])
        remembered = [(s.card["uuid"], *keys[id(s)]) for s in kept if id(s) in keys]
        return Result([s.card for s in kept], [s.rule_id for s in kept], record.missing, record.failed,
                      len(facts.unidentified), rule_errors, record.foreign, [s.folded for s in kept], suppressed,
                      remembered)


_QUANTITY = {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tbl}"}
_WARM_UP_DRAFT = {  # a made-up draft that holds every element check_draft reads, for the warm-up above
    "id": "warm-up", "status": "draft", "intent": "order", "subject": {"reference": "Patient/warm-up"},
    "authoredOn": "2026-01-01", "medicationReference": {"reference": "#med", "display": "warm-up"},
    "contained": [{"resourceType": "Medication", "id": "med", "code": {"coding": [{"system": "urn:warm-up", "code": "1"}]},
                   "form": {"text": "tablet"}, "ingredient": [{"itemCodeableConcept": {"text": "warm-up"},
                   "strength": {"numerator": {"value": 5, "unit": "mg"}, "denominator": {"value": 1, "unit": "tablet"}}}]}],
    "dosageInstruction": [{"sequence": 1, "text": "warm-up", "asNeededBoolean": True, "route": {"text": "oral"},
                           "timing": {"code": {"text": "Q6H"}, "repeat": {"frequency": 1, "period": 6, "periodUnit": "h",
                                      "boundsPeriod": {"start": "2026-01-01"}}},
                           "doseAndRate": [{"doseQuantity": _QUANTITY}], "maxDosePerPeriod": {
                               "numerator": _QUANTITY, "denominator": {"value": 1, "unit": "d"}}}],
    "dispenseRequest": {"quantity": _QUANTITY, "numberOfRepeatsAllowed": 0,
                        "expectedSupplyDuration": {"value": 5, "unit": "days"}, "validityPeriod": {"start": "2026-01-01"}},
    "priorPrescription": {"reference": "MedicationRequest/warm-up"},
    "reasonCode": [{"coding": [{"system": "urn:warm-up", "code": "1"}]}], "reasonReference": [{"reference": "Condition/w"}],
}


def enabled_rules(settings: dict) -> dict[str, Rule]:
    """The rules that run: on by default unless disabled, off by default (waiting for a source) unless enabled."""
    return {rid: rule for rid, rule in RULES.items()
            if rid not in settings["RULES_DISABLED"] and (rule.enabled_by_default or rid in settings["RULES_ENABLED"])}


def _as_ordered(draft) -> str:
    """A draft as the memory of answers tells drafts apart: its id, drug, dose and schedule (the same id with a
    doubled dose is another order)."""
    dose = draft.dose
    how = (dose.dose_value, dose.dose_unit, dose.doses_per_day, dose.prn) if dose is not None else None
    return f"{draft.ref}|{draft.display}|{how!r}"


def widest(findings: list[Finding]) -> list[Finding]:
    """A pair rule's finding whose medications another finding of the same rule already names (with the same
    or a stronger variant) adds nothing: oxycodone, tramadol and alprazolam drafted together get one
    opioid-benzodiazepine card naming all three, not three cards naming the same pairs."""
    def covered(f: Finding) -> bool:
        return bool(f.involved) and any(
            g.rule_id == f.rule_id and f.involved < g.involved and (g.variant == f.variant or f.variant is None)
            for g in findings)
    return [f for f in findings if not covered(f)]


def _unresolved_medications(ctx: OrderContext) -> list[dict]:
    """The drafts' references to Medication resources neither contained nor in the draft Bundle."""
    in_bundle = {r.get("id") for r in ctx.other_resources if r.get("resourceType") == "Medication"}
    refs = [d.r4.get("medicationReference") for d in ctx.drafts]
    return [r for r in refs if (parts := reference_parts(r)) is not None and parts[1] not in in_bundle]
