"""naltrexone-opioid: an opioid antagonist (naltrexone, samidorphan, bupropion/naltrexone) together with an
opioid, in either direction, at low dose (LDN) or full dose.

Sources: seed "Low-dose naltrexone helps treat intractable pain" (not with opioids; stop opioids first);
seed "Third-line treatment of refractory neuropathic pain" (LDN 1.5-4.5 mg); naltrexone label. Reads the
reported drafts, the other drafts and current medications. Silent when the only "antagonist" is the naloxone
in buprenorphine/naloxone or when the "opioid" is a PAMORA: neither is classed as such (knowledge.drugs).
"""
from __future__ import annotations

from typing import Any

from .common import medication_item, num
from .base import Finding, Param, Rule

RULE_ID = "naltrexone-opioid"
FIELDS = ("summary_pair", "draft_name", "draft_ref", "draft_role", "partners", "dose_band",
          "naltrexone_mg", "ldn_max", "advice")


def _naltrexone_mg(use: Any) -> float | None:
    if use.dose is None or not use.dose.complete:
        return None
    dose = use.dose.for_ingredient("naltrexone")
    return dose.mg_per_day if dose else None


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    ldn_max = float(params["low_dose_max_mg_per_day"])
    for draft in facts.reported:
        if draft.has_class("opioid_antagonist"):
            role = "antagonist_draft"
            partners = facts.alongside_with(draft, "opioid")
            antagonist = draft
        elif draft.is_opioid:
            role = "opioid_draft"
            partners = facts.alongside_with(draft, "opioid_antagonist")
            antagonist = partners[0] if partners else None
        else:
            continue
        if not partners:
            continue
        mg = _naltrexone_mg(antagonist) if antagonist is not None else None
        band = "unknown" if mg is None else ("ldn" if mg <= ldn_max else "full")
        # Switching to low-dose naltrexone is advice for an LDN order only; a patient on naltrexone who is being
        # prescribed an opioid needs the opposite plan.
        advice = "opioid_on_naltrexone" if role == "opioid_draft" else ("switch_to_ldn" if band == "ldn" else "stop_first")
        fields = {"summary_pair": role, "draft_role": role, "draft_name": draft.display, "draft_ref": draft.ref,
                  "dose_band": band, "naltrexone_mg": num(mg), "ldn_max": num(ldn_max), "advice": advice}
        removable = tuple(u for u in [draft, *partners] if u.role == "draft")
        findings.append(Finding(RULE_ID, draft, fields, {"partners": [medication_item(p) for p in partners]},
                                suggestions=("remove-draft",), removable=removable,
                                involved=frozenset({draft.ref, *(p.ref for p in partners)})))
    return findings


RULE = Rule(
    id=RULE_ID, position=20, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications'),
    params=(
        Param('low_dose_max_mg_per_day', 5, "docs/clinical-rules.md §2: low dose (<= 5 mg/day, LDN); seed 002 (LDN 1.5-4.5 mg)"),
    ),
)
