"""tramadol-renal-dose: a tramadol draft for a patient whose creatinine clearance is below 30 mL/min: an
immediate-release product (tramadol/acetaminophen and other combinations included) given more often than every
12 hours or above 200 mg/day, or any extended-release tramadol.

Sources: tramadol hydrochloride tablets label §2.2 (the ULTRAM label on rxlist has the same sentence): "In all
patients with creatinine clearance less than 30 mL/min, it is recommended that the dosing interval ... be
increased to 12 hours, with a maximum daily dose of 200 mg"; ULTRAM ER label (older version): "should not be used
in patients with: creatinine clearance less than 30 mL/min". CrCl from ``facts.renal`` (Cockcroft-Gault, else
eGFR read as CrCl, which the card says). Silent, and logged, when renal function is unknown; silent at CrCl
30 or more. Reads reported drafts, Patient, Observations (weight, labs) and Conditions (dialysis, for the
label's dialysis-day sentence).
"""
from __future__ import annotations

import math
from typing import Any

from .base import Finding, Param, Rule
from .common import num, renal_fields, solid_unit

RULE_ID = "tramadol-renal-dose"
FIELDS = ("draft_name", "draft_ref", "daily_mg", "drafted_interval", "crcl", "renal_method", "renal_inputs",
          "renal_date", "crcl_below", "max_mg", "interval_hours", "why", "dialysis", "product_rxcui",
          "product_name", "units_per_dose", "new_daily_mg", "unit_word", "unit_code", "ir_units", "ir_unit_word")
IR_TABLET_MG = 50  # the immediate-release product the ER card offers: tramadol hydrochloride 50 MG Oral Tablet
# (RxNorm 835603, products.csv); the card file names it, so this is not a setting


def interval_words(per_day: float | None) -> str:
    if not per_day:
        return "on a schedule that could not be read"
    hours = 24 / per_day
    if abs(hours - round(hours)) < 1e-6:
        return f"every {int(round(hours))} hours" if round(hours) != 24 else "once a day"
    return f"{num(per_day)} times a day"


def ir_replacement(draft: Any, mg_per_day: float, per_day: float, limit: float, interval_hours: float) -> dict | None:
    """The drafted tablet every ``interval_hours``, never more units a dose than drafted, within ``limit``."""
    product = draft.product
    component = next((c for c in product.components if c.ingredient.name == "tramadol"), None)
    if (not product.rxcui or component is None or component.per != "unit" or not component.strength_mg
            or product.form.route not in ("oral", "")):
        return None
    doses = 24 / interval_hours
    drafted_units = mg_per_day / per_day / component.strength_mg
    units = int(math.floor(min(drafted_units, limit / (doses * component.strength_mg)) + 1e-9))
    if units < 1:
        return None
    word, code = solid_unit(product)
    return {"product_rxcui": product.rxcui, "product_name": product.name, "units_per_dose": units,
            "new_daily_mg": num(units * doses * component.strength_mg),
            "unit_word": word + ("" if units == 1 else "s"), "unit_code": code}


def evaluate(facts: Any, params: dict) -> list:
    drafts = [d for d in facts.reported if d.product is not None and "tramadol" in d.product.ingredient_names]
    if not drafts:
        return []
    renal = facts.renal()
    if renal.crcl is None:
        facts.unknown(RULE_ID, f"renal function: {renal.why_unknown}")
        return []
    if renal.crcl >= params["crcl_below"]:
        return []
    limit, interval = params["max_mg_per_day"], params["min_interval_hours"]
    dialysis = "dialysis" if facts.has_condition("severe_kidney_disease") else ""
    findings = []
    for draft in drafts:
        dose = draft.dose
        ingredient = dose.for_ingredient("tramadol") if dose is not None else None
        mg = ingredient.mg_per_day if ingredient is not None and dose.complete else None
        per_day = dose.doses_per_day if dose is not None else None
        base = {"draft_name": draft.display, "draft_ref": draft.ref, **renal_fields(renal),
                "daily_mg": num(mg) if mg is not None else "unknown", "drafted_interval": interval_words(per_day),
                "crcl_below": num(params["crcl_below"]), "max_mg": num(limit), "interval_hours": num(interval),
                "dialysis": dialysis}
        if draft.product.form.extended_release:
            units = int(math.floor(min(mg, limit) / (24 / interval * IR_TABLET_MG) + 1e-9)) if mg else 0
            suggestions = ("replace-er-with-ir",) if units >= 1 else ("remove-er",)
            findings.append(Finding(RULE_ID, draft, {**base, "why": "er", "ir_units": units,
                                                     "ir_unit_word": "tablet" if units == 1 else "tablets",
                                                     "new_daily_mg": num(units * 24 / interval * IR_TABLET_MG)},
                                    variant="er", suggestions=suggestions))
            continue
        too_often = per_day is not None and per_day > 24 / interval + 1e-9
        too_much = mg is not None and mg > limit + 1e-9
        if not (too_often or too_much):
            if per_day is None or mg is None:
                facts.unknown(RULE_ID, "daily dose or dosing interval: not computable from the draft's dosage")
            continue
        found = ir_replacement(draft, mg, per_day, limit, interval) if mg is not None and per_day else None
        key = ("every-12-hours-prn" if dose.prn else "every-12-hours") if found else None
        findings.append(Finding(RULE_ID, draft, {
            **base, "why": "both" if too_often and too_much else ("interval" if too_often else "dose"),
            **(found or {})}, suggestions=(key,) if key else ()))
    return findings


RULE = Rule(
    id=RULE_ID, position=250, evaluate=evaluate, fields=FIELDS,
    reads=("drafts", "patient", "observations", "labs", "conditions"),
    params=(
        Param("crcl_below", 30, "tramadol tablets label §2.2: 'creatinine clearance less than 30 mL/min'; ULTRAM "
                                "ER label (older version): 'creatinine clearance less than 30 mL/min'"),
        Param("min_interval_hours", 12, "tramadol tablets label §2.2: 'the dosing interval ... be increased to "
                                        "12 hours'"),
        Param("max_mg_per_day", 200, "tramadol tablets label §2.2: 'with a maximum daily dose of 200 mg'"),
    ),
)
