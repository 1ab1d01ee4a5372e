"""gabapentinoid-renal-dose: a gabapentin draft whose daily dose, or number of doses a day, is above what the
NEURONTIN label's Table 1 gives for the patient's creatinine clearance; pregabalin likewise, only where a site
switches it on (its bands were read in secondary sources only).

Sources: NEURONTIN label §2.3 Table 1 (DailyMed setid 97935fd9-1d4a-43b6-a5d9-de994591187b, v48), read verbatim
(docs/clinical-rules.md §1.6, §2); pregabalin bands: NZ palliative care information sheet (secondary), not
the US LYRICA table. CrCl: Cockcroft-Gault from the newest serum creatinine, weight, age and sex, else an eGFR
read as CrCl (the card says so) — ``facts.renal``. A CrCl at or above 60 mL/min is left to
``analgesic-max-dose`` (3600 mg/day). A CrCl on or between the label's rows (29.5, exactly 30) goes to the lower
row: a project choice the card states. Silent, and logged, when renal function, age or the dose is unknown;
silent under 12 years (the label: "has not been studied"). Gabapentin once-daily (Gralise) and gabapentin
enacarbil (Horizant), and pregabalin extended-release, have their own labels and are not judged here.
"""
from __future__ import annotations

import math
from typing import Any

from .base import Finding, Param, Rule
from .common import frequency_words, num, renal_fields, solid_unit, under_age

RULE_ID = "gabapentinoid-renal-dose"
FIELDS = ("draft_name", "draft_ref", "drug", "daily_mg", "drafted_frequency", "crcl", "renal_method",
          "renal_inputs", "renal_date", "band_row", "band_max_mg", "band_frequency", "band_regimen", "why", "edge",
          "proportion", "dialysis", "supplement_range", "pregabalin_supplement_max",
          "product_rxcui", "product_name", "units_per_dose", "new_doses_per_day", "new_frequency", "new_daily_mg",
          "unit_word", "unit_code")
# Products with a label (and renal table) of their own: once-daily gastroretentive gabapentin, the prodrug
# gabapentin enacarbil, extended-release pregabalin. Their names say so; the form may not.
_OWN_LABEL_WORDS = ("once-daily", "gralise", "enacarbil", "horizant")


def band_for(crcl: float, bands: list[dict]) -> dict | None:
    """The first row (listed from the top) whose lower bound the CrCl meets: ``at_least`` (inclusive) or
    ``above`` (exclusive). A value between two rows' written ranges therefore falls to the lower row."""
    for band in bands:
        if "at_least" in band and crcl >= band["at_least"]:
            return band
        if "above" in band and crcl > band["above"]:
            return band
    return None


def between_rows(crcl: float, band: dict) -> bool:
    """The CrCl is outside the row as the label writes it (59.5 for ">30 to 59", 15 for "<15")."""
    return ("up_to" in band and crcl > band["up_to"]) or ("below" in band and crcl >= band["below"])


def band_maximum(crcl: float, band: dict) -> float:
    """The row's maximum daily dose, reduced in proportion to CrCl below ``in_proportion_below``."""
    limit = float(band["max_mg_per_day"])
    below = band.get("in_proportion_below")
    if below and crcl < below:
        limit = limit * crcl / below
    return limit


def replacement(draft: Any, ingredient: str, target_mg: float, doses_per_day: int) -> dict | None:
    """The drafted tablet or capsule, ``doses_per_day`` times a day, in the most whole units a dose whose daily
    total stays within ``target_mg``; None when that cannot be written with certainty (no RxNorm code, not a
    solid oral unit, several ingredients, or not even one unit fits)."""
    product = draft.product
    component = next((c for c in product.components if c.ingredient.name == ingredient), None)
    if (not product.rxcui or component is None or component.per != "unit" or not component.strength_mg
            or len(product.components) != 1 or product.form.route not in ("oral", "")):
        return None
    units = int(math.floor(target_mg / (doses_per_day * component.strength_mg) + 1e-9))
    if units < 1:
        return None
    word, code = solid_unit(product)
    return {"product_rxcui": product.rxcui, "product_name": product.name, "units_per_dose": units,
            "new_doses_per_day": doses_per_day, "new_frequency": frequency_words(doses_per_day),
            "new_daily_mg": num(units * doses_per_day * component.strength_mg),
            "unit_word": word + ("" if units == 1 else "s"), "unit_code": code}


def _own_label(draft: Any) -> bool:
    names = f"{draft.product.name} {draft.display}".lower()
    return draft.product.form.extended_release or any(w in names for w in _OWN_LABEL_WORDS)


def _candidates(facts: Any, params: dict) -> list[tuple[Any, str]]:
    drugs = ["gabapentin"] + (["pregabalin"] if params["check_pregabalin"] else [])
    out = []
    for draft in facts.reported:
        if draft.product is None or _own_label(draft):
            continue
        drug = next((d for d in drugs if d in draft.product.ingredient_names), None)
        if drug is not None:
            out.append((draft, drug))
    return out


def evaluate(facts: Any, params: dict) -> list:
    candidates = _candidates(facts, params)
    if not candidates:
        return []
    if under_age(facts, RULE_ID, params["min_age"], "the renal table is for patients 12 years and older"):
        return []
    renal = facts.renal()
    if renal.crcl is None:
        facts.unknown(RULE_ID, f"renal function: {renal.why_unknown}")
        return []
    if renal.crcl <= 0:
        facts.unknown(RULE_ID, "renal function: creatinine clearance not positive (inputs out of range)")
        return []
    dialysis = facts.has_condition("severe_kidney_disease")
    findings = []
    for draft, drug in candidates:
        band = band_for(renal.crcl, params[f"{drug}_bands"])
        if band is None or band.get("max_mg_per_day") is None:
            continue  # the top row: the maximum dose is analgesic-max-dose's
        dose = draft.dose.for_ingredient(drug) if draft.dose is not None else None
        if dose is None or dose.mg_per_day is None or not draft.dose.complete or not draft.dose.doses_per_day:
            facts.unknown(RULE_ID, "daily dose: not computable from the draft's dosage")
            continue
        limit = band_maximum(renal.crcl, band)
        per_day = draft.dose.doses_per_day
        max_doses = band.get("max_doses_per_day")
        too_much = dose.mg_per_day > limit + 1e-9
        too_often = max_doses is not None and per_day > max_doses + 1e-9
        if not (too_much or too_often):
            continue
        new_per_day = int(max_doses) if too_often else (int(per_day) if per_day == int(per_day) else None)
        found = replacement(draft, drug, min(limit, dose.mg_per_day), new_per_day) if new_per_day else None
        fields = {
            "draft_name": draft.display, "draft_ref": draft.ref, "drug": drug, "daily_mg": num(dose.mg_per_day),
            "drafted_frequency": frequency_words(per_day), **renal_fields(renal),
            "band_row": band["row"], "band_max_mg": num(round(limit, 1)),
            "band_frequency": frequency_words(max_doses) if max_doses else "in divided doses (no limit on their number was read)",
            "band_regimen": band.get("regimen", ""),
            "why": "both" if too_much and too_often else ("dose" if too_much else "frequency"),
            "edge": "between" if between_rows(renal.crcl, band) else "",
            "proportion": "reduced" if band.get("in_proportion_below") and renal.crcl < band["in_proportion_below"]
            else "",
            "dialysis": drug if dialysis else "",
            "supplement_range": "–".join(num(v) for v in params["gabapentin_hemodialysis_supplement_mg"]),
            "pregabalin_supplement_max": num(params["pregabalin_hemodialysis_supplement_max_mg"]),
            **(found or {})}
        findings.append(Finding(RULE_ID, draft, fields, variant="pregabalin" if drug == "pregabalin" else None,
                                suggestions=("dose-in-band",) if found else ()))
    return findings


_GABAPENTIN_TABLE = ("NEURONTIN label §2.3 Table 1 (DailyMed setid 97935fd9-1d4a-43b6-a5d9-de994591187b, v48): "
                     "'>30 to 59 | 400 to 1400 | 200 BID … 700 BID'; '>15 to 29 | 200 to 700 | 200 QD … 700 QD'; "
                     "'<15' row '100 to 300 | 100 QD … 300 QD' and 'reduce daily dose in proportion to creatinine "
                     "clearance'. 'above' is exclusive, so a CrCl on or between rows (29.5, exactly 30) takes the "
                     "lower row: project choice, docs/clinical-rules.md §1.6")
_PREGABALIN_TABLE = ("secondary: NZ palliative care pregabalin information sheet (mobcdhb.palliativecare.org.nz/526948"
                     ".htm): '30–60 mL/min … 300 mg/day … in 1 or 2 doses', '15–30 mL/min … 150 mg/day … in 1 or 2 "
                     "doses', '<15 mL/min … 75 mg/day … in 1 dose'; no frequency limit at 30–60 (a low-authority copy "
                     "of the US label reads 'BID or TID' there)")

RULE = Rule(
    id=RULE_ID, position=240, evaluate=evaluate, fields=FIELDS,
    reads=("drafts", "patient", "observations", "labs", "conditions"),
    params=(
        Param("min_age", 12, "NEURONTIN label §2.3: 'The use of NEURONTIN in patients less than 12 years of age "
                             "with compromised renal function has not been studied'"),
        Param("gabapentin_bands", [
            {"row": "≥ 60", "at_least": 60, "max_mg_per_day": None},
            {"row": ">30 to 59", "above": 30, "up_to": 59, "max_mg_per_day": 1400, "max_doses_per_day": 2,
             "regimen": "BID"},
            {"row": ">15 to 29", "above": 15, "up_to": 29, "max_mg_per_day": 700, "max_doses_per_day": 1,
             "regimen": "QD"},
            {"row": "<15", "above": 0, "below": 15, "max_mg_per_day": 300, "max_doses_per_day": 1,
             "regimen": "QD", "in_proportion_below": 15},
        ], _GABAPENTIN_TABLE + "; the ≥ 60 row (3600 mg/day) is analgesic-max-dose's"),
        Param("gabapentin_hemodialysis_supplement_mg", [125, 350],
              "NEURONTIN label §2.3 Table 1: 'supplemental post-hemodialysis dose administered after each 4 hours "
              "of hemodialysis': 125, 150, 200, 250, 350 mg"),
        Param("check_pregabalin", False, "RULES-WAVE2 §4.8 item 1: pregabalin bands from secondary sources only",
              unverified="the US LYRICA renal table was not read; the bands are secondary"),
        Param("pregabalin_bands", [
            {"row": "> 60", "above": 60, "max_mg_per_day": None},
            {"row": "30–60", "above": 30, "up_to": 60, "max_mg_per_day": 300, "max_doses_per_day": None},
            {"row": "15–30", "above": 15, "up_to": 30, "max_mg_per_day": 150, "max_doses_per_day": 2},
            {"row": "<15", "above": 0, "below": 15, "max_mg_per_day": 75, "max_doses_per_day": 1},
        ], _PREGABALIN_TABLE, unverified="secondary source; the US LYRICA table (and its band edges) was not read"),
        Param("pregabalin_hemodialysis_supplement_max_mg", 100,
              "secondary: NZ palliative care information sheet 'after haemodialysis (single dose) … max. 100 mg'",
              unverified="secondary source; not checked against the US LYRICA label"),
    ),
)
