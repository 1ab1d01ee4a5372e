"""older-adult-cns-burden: a patient 65 or older, and an opioid or gabapentinoid draft with which the patient's
CNS-active drugs (current and drafted) span three or more of the AGS Beers 2023 classes: antiepileptics
(including gabapentinoids), antidepressants, antipsychotics, benzodiazepines, Z-drugs, opioids and skeletal
muscle relaxants.

Source: AGS Beers Criteria 2023, Table 5 (drug-drug interactions), read through a formulary site's reproduction
(docs/clinical-rules.md review quote Q42): "Avoid concurrent use of ≥3 CNS-active drugs"; "minimize the number of
CNS-active drugs" (falls and fractures). Scope: adults 65 or older, "except hospice and end-of-life care
settings" (Q40): the engine's ``end_of_life`` exclusion.

Classes are counted, not drugs (two opioids are one class), from the class map parameter. MAO inhibitors are
not counted as antidepressants: the ``maoi`` class also holds linezolid, selegiline and methylene blue; the
antidepressant MAOIs (phenelzine, isocarboxazid, tranylcypromine) are counted through ``antidepressant_other``.
A draft that continues a drug the patient already takes (its priorPrescription, or the same ingredients: a
renewal, a new strength or a PRN order of the same drug) adds no CNS-active drug: it is silent unless
``on_renewal`` is set (project choice, as for high-mme renewals, §4.3).
"""
from __future__ import annotations

from typing import Any

from ..knowledge.exposure import same_order
from .base import Finding, Param, Rule
from .common import for_opioid_use_disorder, has_id, medication_item

RULE_ID = "older-adult-cns-burden"
FIELDS = ("draft_name", "draft_ref", "age", "class_count", "min_classes", "drugs", "beers_class")

CLASS_MAP = {
    "antiepileptic": ["anticonvulsant", "gabapentinoid"],
    "antidepressant": ["ssri", "snri", "tca", "antidepressant_other"],
    "antipsychotic": ["antipsychotic"],
    "benzodiazepine": ["benzodiazepine"],
    "z_drug": ["z_drug"],
    "opioid": ["opioid"],
    "skeletal_muscle_relaxant": ["muscle_relaxant"],
}


def beers_classes(use: Any, class_map: dict) -> list[str]:
    """The Beers CNS-active classes of a medication, in the map's order (phenobarbital: one, antiepileptic)."""
    return [name for name, classes in class_map.items() if use.has_class(*classes)]


def _renews(draft: Any, current: Any) -> bool:
    """The draft continues a drug the patient already takes: its priorPrescription, or the same ingredients
    (a new strength, form or PRN order of the same drug adds no CNS-active drug)."""
    if same_order(draft.prior_prescription, current.ref):
        return True
    return (draft.product is not None and current.product is not None
            and set(draft.product.ingredient_names) == set(current.product.ingredient_names))


def evaluate(facts: Any, params: dict) -> list:
    age = facts.age
    if age is None or age < params["min_age"]:
        return []
    class_map = params["class_map"]
    cns_classes = tuple(c for classes in class_map.values() for c in classes)
    memo: dict[frozenset, list[str]] = {}  # a long list holds few distinct class sets

    def classes_of(use: Any) -> list[str]:
        key = use.product.classes if use.product is not None else frozenset()
        if key not in memo:
            memo[key] = beers_classes(use, class_map)
        return memo[key]

    for draft in facts.reported:
        if not (draft.is_opioid or draft.has_class("gabapentinoid")):
            continue
        if not params["on_renewal"] and any(_renews(draft, c) for c in facts.current):
            continue  # a renewal or dose change of a current drug adds no CNS-active drug
        drugs = [u for u in [draft, *facts.alongside_with(draft, *cns_classes)] if classes_of(u)]
        classes = {c for u in drugs for c in classes_of(u)}
        if len(classes) < params["min_classes"]:
            return []
        items = [{**medication_item(u), "beers_class": classes_of(u)} for u in drugs]
        # Every qualifying draft sees the same drugs (itself and everything alongside it): one finding, the
        # first draft's, names them all (another draft's would be the same card).
        return [Finding(
            RULE_ID, draft,
            {"draft_name": draft.display, "draft_ref": draft.ref, "age": age, "class_count": len(classes),
             "min_classes": params["min_classes"]},
            {"drugs": items}, suggestions=("remove-draft",),
            removable=tuple(u for u in drugs if has_id(u) and (u.is_opioid or u.has_class("gabapentinoid"))
                            and not for_opioid_use_disorder(facts, u)),
            involved=frozenset(u.ref for u in drugs))]
    return []

RULE = Rule(
    id=RULE_ID, position=310, evaluate=evaluate, fields=FIELDS,
    reads=("drafts", "current_medications", "patient"),
    params=(
        Param("min_age", 65, "AGS Beers 2023 scope (Q40): \"adults 65 years old and older\""),
        Param("min_classes", 3, "AGS Beers 2023 Table 5 (Q42, formweb reproduction): \"concurrent use of ≥3 "
              "CNS-active agents\""),
        Param("class_map", CLASS_MAP, "AGS Beers 2023 Table 5 (Q42, formweb reproduction): \"antiepileptics "
              "including gabapentinoids, antidepressants, antipsychotics, benzodiazepines, Nonbenzodiazepine "
              "benzodiazepine receptor agonist hypnotics, opioids, and skeletal muscle relaxants\"; mapped to the "
              "classes of data/ingredients.csv (the maoi class is left out: it holds linezolid and selegiline)"),
        Param("on_renewal", False, "project choice (as for high-mme renewals, docs/clinical-rules.md §4.3): a draft "
              "of a drug the patient already takes (priorPrescription or the same ingredients) adds no CNS-active "
              "drug, so it gets no card"),
    ),
    exclusion="end_of_life",
)
