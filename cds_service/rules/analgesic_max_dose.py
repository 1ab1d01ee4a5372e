"""analgesic-max-dose: a draft whose daily dose exceeds the maximum: tramadol 400 mg (300 mg over 75 years),
gabapentin 3600 mg, pregabalin 600 mg, duloxetine 120 mg, amitriptyline/nortriptyline/desipramine 150 mg.

Sources: seed "Opioids for neuropathic pain" (doses and ranges); product labels. Reads reported drafts and
the patient's age (for tramadol). A dose that cannot be computed is not judged.
"""
from __future__ import annotations

from typing import Any

from .common import num, solid_unit
from .base import Finding, Param, Rule

RULE_ID = "analgesic-max-dose"
FIELDS = ("draft_name", "draft_ref", "ingredient", "daily_mg", "max_mg", "age_note", "elderly_age",
          "product_rxcui", "product_name", "units_per_dose", "doses_per_day", "new_daily_mg", "unit_word",
          "unit_code")


def at_maximum(draft: Any, ingredient: str, limit: float) -> dict | None:
    """The drafted product on its own schedule, in whole tablets or capsules, at the most that stays within the
    maximum; None when that cannot be written with certainty (no RxNorm product code, a liquid or patch, a
    schedule that is not a whole number of doses a day, or not even one unit fits)."""
    product, per_day = draft.product, draft.dose.doses_per_day
    component = next((c for c in product.components if c.ingredient.name == ingredient), None)
    if (not product.rxcui or component is None or component.per != "unit" or not component.strength_mg
            or not per_day or per_day != int(per_day) or len(product.components) != 1
            or product.form.route not in ("oral", "")):
        return None
    units = int(limit // (per_day * component.strength_mg) + 1e-9)
    if units < 1:
        return None
    word, code = solid_unit(product)
    return {"product_rxcui": product.rxcui, "product_name": product.name, "units_per_dose": units,
            "doses_per_day": int(per_day), "new_daily_mg": num(units * per_day * component.strength_mg),
            "unit_word": word + ("" if units == 1 else "s"), "unit_code": code}


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    elderly = facts.age is not None and facts.age > params["elderly_age"]
    renal = None
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
            below = params["renal_limit_below_crcl"].get(name)
            if below is not None and renal is None:
                renal = facts.renal()
            # A lower renal maximum applies: the renal rule's card offers the order; this maximum would be too high.
            renal_lower = below is not None and renal.crcl is not None and renal.crcl < below
            replacement = None if renal_lower else at_maximum(draft, name, limit)
            findings.append(Finding(RULE_ID, draft, {
                "draft_name": draft.display, "draft_ref": draft.ref, "ingredient": name,
                "daily_mg": num(dose.mg_per_day), "max_mg": num(limit), "age_note": age_note,
                "elderly_age": num(params["elderly_age"]), **(replacement or {})},
                suggestions=("dose-at-maximum",) if replacement else ()))
            break
    return findings


RULE = Rule(
    id=RULE_ID, position=130, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'patient', 'observations', 'labs'),
    params=(
        Param('max_mg_per_day', {"tramadol": 400, "gabapentin": 3600, "pregabalin": 600, "duloxetine": 120, "amitriptyline": 150, "nortriptyline": 150, "desipramine": 150}, "seed 004 (tramadol max 400 mg/day; gabapentin 900-3600; pregabalin 300-600; duloxetine up to 120; TCAs 75-150 mg/day); labels"),
        Param('elderly_age', 75, "tramadol label: over 75 years, 300 mg/day (docs/clinical-rules.md §2)"),
        Param('elderly_max_mg_per_day', {"tramadol": 300}, "tramadol label: over 75 years, 300 mg/day (docs/clinical-rules.md §2)"),
        Param('renal_limit_below_crcl', {"gabapentin": 60, "tramadol": 30}, "NEURONTIN label Table 1 (CrCl < 60) and tramadol label §2.2 (CrCl < 30): a lower renal maximum applies, and gabapentinoid-renal-dose or tramadol-renal-dose offers the order at it; this card then offers none"),
    ),
)
