"""cyp2d6-codeine-tramadol: codeine or tramadol (alone or in a combination product) drafted for a patient whose
CYP2D6 result says ultrarapid metabolizer (critical) or poor metabolizer (warning).

Sources: CPIC guideline for CYP2D6, OPRM1 and COMT and opioid therapy (Crews et al., Clin Pharmacol Ther
2021;110(4):888-896, PMID 33387367): the recommendation text is read from the CPIC rows shipped in
``knowledge/data/value_sets.json`` ("cpic", from PyPI pypgx 0.27.0, CPIC data CC0), never retyped here; codeine
label 5.1 (risk of death in ultra-rapid metabolizers); DPWG (morphine is not metabolized by CYP2D6); the HL7
Genomics Reporting IG for the shapes of the result (``knowledge/observations.cyp2d6_phenotype``,
docs/clinical-rules.md §1.6).

Silent: no result, a diplotype without a phenotype, normal, rapid (CPIC has no CYP2D6 "rapid" row for these
drugs), indeterminate ("No recommendation"). Intermediate is silent unless ``intermediate_info`` is set (CPIC
grades it "Optional" for tramadol and, in the secondary transcriptions read, "Moderate" for codeine: use label
dosing, another opioid if there is no response). Hydrocodone is not this rule's (CPIC: "No recommendation" for
ultrarapid metabolizers). A result that names the medications assessed (Genomics IG component 51963-7) and names
neither this drug (ingredient or product RxCUI) is about other drugs: it is passed over for an older result about
this drug or about no named drug, or the rule stays silent.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..knowledge.drugs import DrugKnowledge
from ..knowledge.lenient import items
from ..knowledge.observations import RXNORM, cyp2d6_phenotype
from .base import Finding, Param, Rule

RULE_ID = "cyp2d6-codeine-tramadol"
FIELDS = ("draft_name", "draft_ref", "drug", "phenotype", "lab", "result_date", "drugs_assessed",
          "cpic_recommendation", "classification", "label_note")
DRUGS = ("codeine", "tramadol")
_CPIC_FILE = Path(__file__).resolve().parents[1] / "knowledge" / "data" / "value_sets.json"
_CPIC_PHENOTYPE = {"ultrarapid": "Ultrarapid Metabolizer", "poor": "Poor Metabolizer",
                   "intermediate": "Intermediate Metabolizer"}
_MEDICATION_ASSESSED = "51963-7"


@lru_cache(maxsize=1)
def cpic_rows() -> dict[tuple[str, str], str]:
    """CPIC recommendation text by (drug, phenotype as CPIC writes it), verbatim from the shipped rows."""
    data = json.loads(_CPIC_FILE.read_text(encoding="utf-8"))["cpic"]["rows"]
    return {(r["drug"], r["phenotype"]): r["recommendation"] for r in data
            if r.get("gene") == "CYP2D6" and r.get("recommendation")}


def _assessed(observation: Any) -> set[str]:
    """RxCUIs of the medications a result says it assessed (Genomics IG component 51963-7)."""
    codes: set[str] = set()
    if not isinstance(observation, dict):
        return codes
    for comp in items(observation.get("component")):
        if not isinstance(comp, dict):
            continue
        code = comp.get("code") if isinstance(comp.get("code"), dict) else {}
        if not any(isinstance(c, dict) and str(c.get("code")) == _MEDICATION_ASSESSED for c in items(code.get("coding"))):
            continue
        value = comp.get("valueCodeableConcept") if isinstance(comp.get("valueCodeableConcept"), dict) else {}
        codes |= {str(c.get("code")) for c in items(value.get("coding"))
                  if isinstance(c, dict) and c.get("system") == RXNORM and c.get("code")}
    return codes


def _about(drugs: frozenset[str] | set[str], drug: str, own: set[str]) -> bool:
    """A result naming no medication applies to any; one naming medications applies when one of them is this
    drug: its ingredient RxCUI, the drafted product's, or a product whose ingredients include it."""
    if not drugs or drugs & own:
        return True
    knowledge = DrugKnowledge.load()
    for code in drugs:
        product = knowledge.identify({"coding": [{"system": RXNORM, "code": code}]})
        if product is not None and drug in product.ingredient_names:
            return True
    return False


def _phenotype(facts: Any, drug: str, own: set[str]):
    found = facts.cyp2d6
    if found is None or _about(found.drugs, drug, own):
        return found
    # The newest result is about other drugs only (a lab sends one Therapeutic Implication per medication): read
    # the results again without those, for one about this drug or about no named drug.
    kept = [o for o in facts.observations if not ((codes := _assessed(o)) and not _about(codes, drug, own))]
    found = cyp2d6_phenotype(kept)
    return found if found is not None and _about(found.drugs, drug, own) else None


def evaluate(facts: Any, params: dict) -> list:
    drafts = [(d, drug) for d in facts.reported if d.product is not None
              for drug in DRUGS if drug in d.product.ingredient_names]
    if not drafts:
        return []
    findings = []
    for draft, drug in drafts:
        component = next(c for c in draft.product.components if c.ingredient.name == drug)
        own = {code for code in (component.ingredient.rxcui, draft.product.rxcui) if code}
        found = _phenotype(facts, drug, own)
        if found is None:
            facts.unknown(RULE_ID, "CYP2D6 phenotype: no readable phenotype result for this drug")
            continue
        phenotype = found.phenotype
        if phenotype == "intermediate" and not params["intermediate_info"]:
            continue
        if phenotype not in _CPIC_PHENOTYPE:
            if phenotype == "rapid":
                facts.unknown(RULE_ID, "CYP2D6 phenotype 'rapid': CPIC has no row for it")
            continue  # normal, rapid, indeterminate: nothing to change
        recommendation = cpic_rows().get((drug, _CPIC_PHENOTYPE[phenotype]))
        if recommendation is None:
            facts.unknown(RULE_ID, "CPIC recommendation row missing from the data file")
            continue
        fields = {
            "draft_name": draft.display, "draft_ref": draft.ref, "drug": drug, "phenotype": phenotype,
            "lab": found.lab or "laboratory not named in the result",
            "result_date": found.when.isoformat() if found.when else "date not recorded",
            "drugs_assessed": "named" if found.drugs else "none",
            "cpic_recommendation": recommendation,
            "classification": f"{drug}-{phenotype}",
            "label_note": f"{drug}-{phenotype}",
        }
        remove = phenotype in ("ultrarapid", "poor")
        findings.append(Finding(RULE_ID, draft, fields, variant=None if phenotype == "ultrarapid" else phenotype,
                                suggestions=("remove-draft",) if remove else (),
                                removable=(draft,) if remove else ()))
    return findings


RULE = Rule(
    id=RULE_ID, position=210, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'observations', 'labs'),
    params=(
        Param('intermediate_info', False,
              "CPIC 2021 (Crews et al.): intermediate metabolizers, use label dosing, another opioid if no "
              "response; classification Optional for tramadol (Table 3), Moderate for codeine (Table 2, read in "
              "secondary transcriptions only). Off by default: no change to the order is recommended"),
    ),
)
