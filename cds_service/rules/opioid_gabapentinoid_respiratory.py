"""opioid-gabapentinoid-respiratory: a gabapentinoid drafted while an opioid is current or drafted, or an opioid
drafted while a gabapentinoid is current or drafted, for a patient with at least one more respiratory risk
factor (docs/clinical-rules.md §1.5): age 65 or older, sleep-disordered breathing, COPD or reduced lung
function, another CNS depressant (benzodiazepine, Z-drug, skeletal muscle relaxant, barbiturate), or a
creatinine clearance below 60 mL/min.

Sources: FDA Drug Safety Communication, 19 Dec 2019 (respiratory risk factors; "start gabapentinoids at the
lowest dose and monitor"); MHRA Drug Safety Update 2017 (renal impairment); AGS Beers 2023 via American Family
Physician (secondary) for patients 65 or older; seeds 002 and 004 (the plain morphine + gabapentin combination
is recommended, so it stays silent without another factor).

Silent: no further factor; a PAMORA is not an opioid (class ``pamora``); hospice or end-of-life care (the
engine's ``end_of_life`` exclusion; cancer alone does not exclude: FDA's risk is not cancer-specific).
Antidepressants and antihistamines are not counted here (the seeds combine gabapentinoids with duloxetine and
nortriptyline); for patients 65 or older ``older-adult-cns-burden`` counts them. Unknown renal function is
not a factor and not a reason for silence (logged). Buprenorphine or methadone for opioid use disorder: the
card fires but never suggests reducing or stopping it (CDC: do not withhold it).
"""
from __future__ import annotations

from typing import Any

from ..knowledge.patient import condition_is_active
from .base import Finding, Param, Rule
from .common import concept_label, condition_dated, for_opioid_use_disorder, medication_item, num

RULE_ID = "opioid-gabapentinoid-respiratory"
FIELDS = ("draft_name", "draft_ref", "partners", "factors", "advice", "direction", "renal_note", "crcl",
          "renal_inputs", "renal_why", "renal_below", "renal_days",
          "age", "condition", "recorded", "name", "when")  # the last five per factor item


def _condition_items(facts: Any, list_name: str, factor: str) -> list[dict]:
    """The active Conditions of a code list, as card lines (name and code as recorded, and since when)."""
    code_list = facts.lists[list_name]
    out = []
    for c in facts.conditions:
        if not (code_list.matches_concept(c.get("code")) and condition_is_active(c, facts.today)):
            continue
        out.append({"factor": factor, "condition": concept_label(c.get("code")), "recorded": condition_dated(c)})
    return out


def evaluate(facts: Any, params: dict) -> list:
    findings: list[Finding] = []
    renal = None
    for draft in facts.reported:
        if draft.has_class("gabapentinoid"):
            partners = facts.alongside_with(draft, "opioid")
        elif draft.is_opioid:
            partners = facts.alongside_with(draft, "gabapentinoid")
        else:
            continue
        if not partners:
            continue
        pair = [draft, *partners]
        factors: list[dict] = []
        age = facts.age
        if age is not None and age >= params["min_age"]:
            factors.append({"factor": "age", "age": age})
        factors += _condition_items(facts, "sleep_disordered_breathing", "sleep_disordered_breathing")
        factors += _condition_items(facts, "copd", "copd")
        depressants = [u for u in facts.alongside_with(draft, *params["cns_depressant_classes"]) if u not in pair]
        factors += [{**medication_item(u), "factor": "cns_depressant"} for u in depressants]
        if renal is None:
            renal = facts.renal()
            if renal.crcl is None:
                facts.unknown(RULE_ID, f"renal function: {renal.why_unknown}")
        renal_fields = {"crcl": num(round(renal.crcl, 1)) if renal.crcl is not None else "unknown",
                        "renal_inputs": "; ".join(f"{what} {value}" for what, value in renal.inputs),
                        "renal_why": renal.why_unknown, "renal_below": num(params["crcl_below"]),
                        "renal_days": facts.renal_window}
        if renal.crcl is None:
            renal_note = "unknown"
        elif renal.crcl < params["crcl_below"]:
            factors.append({"factor": f"renal_{renal.method}", **renal_fields})
            renal_note = "counted"
        else:
            renal_note = f"normal_{renal.method}"
        if not factors:
            continue  # the plain combination the seeds recommend: FDA's start-low advice is already met
        gabapentinoid_drafts = [u for u in pair if u.role == "draft" and u.has_class("gabapentinoid")]
        opioid_drafts = [u for u in pair if u.role == "draft" and u.is_opioid]
        moud = [u for u in pair if for_opioid_use_disorder(facts, u)]
        advice = []
        for name in ("gabapentin", "pregabalin"):
            if any(name in u.product.ingredient_names for u in gabapentinoid_drafts):
                advice.append(f"start_low_{name}")
        if any(u not in moud for u in opioid_drafts):
            advice.append("reduce_opioid")  # as text: no source gives a number (never for treatment of OUD)
        if moud:
            advice.append("moud")
        advice.append("naloxone")
        if age is not None and age >= params["min_age"]:
            advice.append("beers")
        fields = {"draft_name": draft.display, "draft_ref": draft.ref,
                  "direction": "gabapentinoid" if draft.has_class("gabapentinoid") else "opioid",
                  "renal_note": renal_note, **renal_fields}
        involved = frozenset(u.ref for u in [*pair, *depressants])
        findings.append(Finding(RULE_ID, draft, fields,
                                {"partners": [medication_item(p) for p in partners], "factors": factors,
                                 "advice": [{"advice": a} for a in advice]},
                                involved=involved))
    return findings


RULE = Rule(
    id=RULE_ID, position=230, evaluate=evaluate, fields=FIELDS,
    reads=("drafts", "current_medications", "patient", "conditions", "observations", "labs"),
    params=(
        Param("min_age", 65, "FDA DSC 19 Dec 2019 (Q1): \"The elderly are also at higher risk\" (no number); 65 is the "
              "CDC 2022 older-adult cut-off (Q10e) and the AGS Beers 2023 scope (Q40)"),
        Param("cns_depressant_classes", ["benzodiazepine", "z_drug", "muscle_relaxant", "barbiturate"],
              "FDA DSC 19 Dec 2019 (Q1, Q2: opioids and other CNS depressants such as a benzodiazepine); Z-drugs "
              "from the CDC IG cns-depressant-medications value set (Q62); muscle relaxants and barbiturates by name "
              "(docs/clinical-rules.md §1.5). Antidepressants and antihistamines are left out on purpose (seed 004 "
              "combines gabapentinoids with duloxetine and nortriptyline)"),
        Param("crcl_below", 60, "MHRA Drug Safety Update 2017 (Q3): renal impairment; 60 mL/min is the upper bound of "
              "the first dose-reduction band of NEURONTIN label §2.3 Table 1 (Q5)"),
    ),
    exclusion="end_of_life",
)
