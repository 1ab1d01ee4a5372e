"""analgesic-max-dose: a draft whose daily dose exceeds the maximum: tramadol 400 mg (300 mg over 75 years),
gabapentin 3600 mg, pregabalin 600 mg, duloxetine 120 mg, amitriptyline/nortriptyline/desipramine 150 mg.

Sources: seed "Opioids for neuropathic pain" (doses and ranges); product labels. Reads reported drafts and
the patient's age (for tramadol). A dose that cannot be computed is not judged.
"""
from __future__ import annotations

from typing import Any

from .common import num

RULE_ID = "analgesic-max-dose"
FIELDS = ("draft_name", "draft_ref", "ingredient", "daily_mg", "max_mg", "age_note", "elderly_age")


def evaluate(facts: Any, params: dict) -> list:
    from . import Finding

    findings = []
    elderly = facts.age is not None and facts.age > params["elderly_age"]
    for draft in facts.reported:
        if draft.dose is None or not draft.dose.complete:
            continue
        for dose in draft.dose.ingredients:
            name = dose.ingredient.name
            limit = params["max_mg_per_day"].get(name)
            age_note = "adult"
            if elderly and name in params["elderly_max_mg_per_day"]:
                limit, age_note = params["elderly_max_mg_per_day"][name], "elderly"
            if limit is None or dose.mg_per_day is None or dose.mg_per_day <= limit + 1e-9:
                continue
            findings.append(Finding(RULE_ID, draft, {
                "draft_name": draft.display, "draft_ref": draft.ref, "ingredient": name,
                "daily_mg": num(dose.mg_per_day), "max_mg": num(limit), "age_note": age_note,
                "elderly_age": num(params["elderly_age"])}))
            break
    return findings
