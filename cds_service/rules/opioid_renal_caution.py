"""opioid-renal-caution: a morphine, codeine or meperidine draft (any form, combinations included), or any
ER/LA opioid draft, for a patient with an active coded CKD stage 5, end-stage renal disease or dialysis
Condition (code list ``severe_kidney_disease``: eCQM CKD stage 5 and ESRD value sets, and by name).

Sources: CDC 2022 (MMWR 2022;71(RR-3)) p. 30, ER/LA opioids in renal or hepatic dysfunction, and its renal or
hepatic insufficiency caution; meperidine: a table adapted from the AGS 2019 Beers Criteria (PMC7489931,
Table 1). No CrCl threshold is used: none was found for morphine or codeine in a label read
(docs/clinical-rules.md §2). Info; meperidine is a warning (variant). Medications for opioid use disorder
(buprenorphine for OUD, a methadone draft whose reason is OUD) are left alone: CDC says not to withhold them.
No exclusion: the accumulation risk does not depend on the care setting. Reads reported drafts and Conditions.
"""
from __future__ import annotations

from typing import Any

from ..knowledge.patient import condition_is_active
from .common import condition_dated, for_opioid_use_disorder
from .base import Finding, Param, Rule

RULE_ID = "opioid-renal-caution"
FIELDS = ("draft_name", "draft_ref", "drug", "drug_label", "kind", "condition_name", "condition_code", "condition_date")
_SYSTEMS = {"http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM", "http://hl7.org/fhir/sid/icd-10": "ICD-10",
            "http://snomed.info/sct": "SNOMED CT"}


def _condition_fields(condition: dict) -> dict:
    concept = condition.get("code") if isinstance(condition.get("code"), dict) else {}
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    name = concept.get("text") or next((c.get("display") for c in codings if c.get("display")), "") or "recorded"
    codes = ", ".join(f"{_SYSTEMS.get(str(c.get('system')), 'code')} {c.get('code')}" for c in codings
                      if c.get("code"))
    return {"condition_name": str(name), "condition_code": codes or "no code", "condition_date": condition_dated(condition)}


def evaluate(facts: Any, params: dict) -> list:
    named = set(params["named_ingredients"])
    drafts = [d for d in facts.reported if d.is_opioid and (
        named & set(d.product.ingredient_names) or d.product.is_er_la_opioid)]
    drafts = [d for d in drafts if not for_opioid_use_disorder(facts, d)]
    if not drafts or not facts.has_condition("severe_kidney_disease"):
        return []
    code_list = facts.lists["severe_kidney_disease"]
    condition = next((c for c in facts.conditions if isinstance(c, dict) and code_list.matches_concept(c.get("code"))
                      and condition_is_active(c, facts.today)), {})
    findings = []
    for draft in drafts:
        drug = next((n for n in params["named_ingredients"] if n in draft.product.ingredient_names), "")
        er_la = draft.product.is_er_la_opioid
        kind = "both" if drug and er_la else ("er_la" if er_la else "named")
        findings.append(Finding(RULE_ID, draft, {
            "draft_name": draft.display, "draft_ref": draft.ref, "drug": drug or "opioid", "kind": kind,
            "drug_label": (drug.capitalize() + (" (ER/LA)" if er_la else "")) if drug else "ER/LA opioid",
            **_condition_fields(condition)},
            variant="meperidine" if drug == "meperidine" else None,
            suggestions=("remove-draft",) if drug == "meperidine" else ()))
    return findings


RULE = Rule(
    id=RULE_ID, position=260, evaluate=evaluate, fields=FIELDS,
    reads=("drafts", "conditions"),
    params=(
        Param("named_ingredients", ["meperidine", "morphine", "codeine"],
              "docs/clinical-rules.md §2 (RULES-WAVE2): morphine, codeine or meperidine in any form; meperidine: "
              "PMC7489931 Table 1, adapted from AGS 2019 Beers ('Avoid, especially in patients with CKD'); ER/LA "
              "opioids: CDC 2022 p. 30"),
    ),
)
