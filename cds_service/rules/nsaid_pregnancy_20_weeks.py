"""nsaid-pregnancy-20-weeks: a systemic NSAID drafted for a pregnant patient at 20 weeks of gestation or later
(docs/clinical-rules.md §1.6: pregnancy and gestational age, ``facts.pregnancy``).

Sources: FDA Drug Safety Communication of 15 Oct 2020 (review quote Q35: avoid NSAIDs from about 20 weeks, "rare but
serious kidney problems in an unborn baby"; between 20 and 30 weeks "limited to the lowest effective dose for
the shortest duration"; "At around 30 weeks, NSAIDs can cause a problem that may result in heart issues in the
unborn baby"; the 10/16/2020 update: "This does not apply to NSAIDs administered directly to the eye"); AAP
News on the same communication (review quote Q36, secondary: the 81 mg low-dose aspirin exception; "Prescribing NSAIDs
at 30 weeks and later is not recommended because of the additional risk of premature closure of the fetal
ductus arteriosus").

20 to under 30 weeks: warning; 30 weeks or more: critical, with the removal of the draft. Pregnant with no
gestational age that can be read (or one that would be past ``max_plausible_weeks`` today): info, "gestational
age unknown". Silent: an NSAID given in the eye (named ophthalmic, or a dosage route naming the eye); aspirin
alone at 81 mg/day or less (or an aspirin product of 81 mg or less whose daily dose cannot be read: low-dose
aspirin is the common use in pregnancy, logged); under 20 weeks; not pregnant. NSAIDs are the ``nsaid`` class
of ingredients.csv, combination products included (hydrocodone/ibuprofen).
"""
from __future__ import annotations

from typing import Any

from ..knowledge.lenient import items
from .base import Finding, Param, Rule
from .common import gestational_age, has_id, num, pregnancy_evidence

RULE_ID = "nsaid-pregnancy-20-weeks"
FIELDS = ("draft_name", "draft_ref", "pregnancy_evidence", "gestational_age", "weeks", "why_unknown",
          "warning_weeks", "critical_weeks", "max_weeks")
SNOMED = "http://snomed.info/sct"
OPHTHALMIC_ROUTE = "54485002"  # SNOMED CT "Ophthalmic route" (FHIR route-codes)
_EYE_WORDS = ("ophthalm", "eye drop", " eye", "eye ", "intraocular")


def _words(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    words = [concept.get("text")] + [c.get("display") for c in items(concept.get("coding")) if isinstance(c, dict)]
    return [w.lower() for w in words if isinstance(w, str)]


def in_the_eye(use: Any) -> bool:
    """An NSAID given in the eye: the product or order names it ophthalmic, or a dosage's route names the eye
    (SNOMED CT 54485002 or words: the product table has no ophthalmic route, so the name or the route says it)."""
    names = [use.display.lower(), (use.product.name if use.product else "").lower()]
    names += _words(use.order.get("medicationCodeableConcept"))
    if any("ophthalm" in n or "eye drop" in n for n in names):
        return True
    for dosage in items(use.order.get("dosageInstruction")):
        if not isinstance(dosage, dict):
            continue
        concept = dosage.get("route")
        if isinstance(concept, dict) and any(
                isinstance(c, dict) and c.get("system") == SNOMED and str(c.get("code")) == OPHTHALMIC_ROUTE
                for c in items(concept.get("coding"))):
            return True
        route = " ".join(_words(concept))
        if route and any(w in f" {route} " for w in _EYE_WORDS):
            return True
    return False


def low_dose_aspirin(facts: Any, use: Any, max_mg: float) -> bool:
    """Aspirin alone at ``max_mg`` a day or less; a product of ``max_mg`` or less whose daily dose cannot be
    read counts as low-dose (logged)."""
    product = use.product
    if product is None or product.ingredient_names != ("aspirin",):
        return False
    dose = use.dose.for_ingredient("aspirin") if use.dose is not None else None
    if dose is not None and dose.mg_per_day is not None:
        return dose.mg_per_day <= max_mg
    strength = product.components[0].strength_mg
    if strength is not None and product.components[0].per == "unit" and strength <= max_mg:
        facts.unknown(RULE_ID, "aspirin daily dose not readable: a low-dose product, taken as low-dose aspirin")
        return True
    if strength is None:
        facts.unknown(RULE_ID, "aspirin strength and daily dose not readable: not checked")
        return True
    return False


def evaluate(facts: Any, params: dict) -> list:
    if not any(d.has_class("nsaid") for d in facts.reported):
        return []
    pregnancy = facts.pregnancy
    if not pregnancy.pregnant:
        return []
    nsaids = [d for d in facts.reported if d.has_class("nsaid") and not in_the_eye(d)
              and not low_dose_aspirin(facts, d, params["low_dose_aspirin_mg"])]
    if not nsaids:
        return []
    weeks, ga_text = gestational_age(pregnancy, params["max_plausible_weeks"])
    if weeks is not None and weeks < params["warning_weeks"]:
        return []
    if weeks is None:
        facts.unknown(RULE_ID, "gestational age: none on record, or past the plausible range")
        variant, suggestions = "unknown", ()
        why = "stale" if pregnancy.weeks is not None else "none"
    elif weeks >= params["critical_weeks"]:
        variant, suggestions, why = "late", ("remove-draft",), ""
    else:
        variant, suggestions, why = None, ("remove-draft",), ""
    evidence = pregnancy_evidence(facts)
    findings = []
    for draft in nsaids:
        fields = {"draft_name": draft.display, "draft_ref": draft.ref, "pregnancy_evidence": evidence,
                  "gestational_age": ga_text, "weeks": str(int(weeks)) if weeks is not None else "unknown",
                  "why_unknown": why, "warning_weeks": num(params["warning_weeks"]),
                  "critical_weeks": num(params["critical_weeks"]),
                  "max_weeks": num(params["max_plausible_weeks"])}
        findings.append(Finding(RULE_ID, draft, fields, variant=variant,
                                suggestions=suggestions if has_id(draft) else (), removable=(draft,)))
    return findings


RULE = Rule(
    id=RULE_ID, position=300, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'conditions', 'observations'),
    params=(
        Param('warning_weeks', 20, "FDA DSC 15 Oct 2020 (review quote Q35): \"We recommend avoiding NSAIDs in pregnant "
              "women at 20 weeks\""),
        Param('critical_weeks', 30, "FDA DSC 15 Oct 2020 (review quote Q35): \"At around 30 weeks, NSAIDs can cause a "
              "problem that may result in heart issues in the unborn baby\"; AAP News (review quote Q36, secondary): "
              "\"Prescribing NSAIDs at 30 weeks and later is not recommended\""),
        Param('low_dose_aspirin_mg', 81, "AAP News on the FDA DSC (review quote Q36, secondary): \"The warning does not "
              "apply to use of 81 milligram (low dose) aspirin at any point in pregnancy\"; FDA press text as "
              "reproduced: \"low-dose aspirin (81mg)\""),
        Param('max_plausible_weeks', 44, "data plausibility, not a clinical threshold: as opioid-pregnancy (a "
              "gestational age past 44 weeks today means the pregnancy record is probably out of date)"),
    ),
)
