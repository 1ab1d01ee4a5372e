"""breakthrough-dose: a PRN short-acting opioid drafted while a scheduled opioid regimen is current, whose
single dose is outside 10-15% of the total daily scheduled MME, or which allows more than 4 doses a day.

Source: seed "Treatment of intractable pain" (breakthrough doses 10-15% of the total daily dose; adjust the
baseline if more than 4 are needed a day). Reads reported drafts, current medications and other drafts. The
suggested range is given in the drafted drug's own mg (and tablets where its strength is known).
"""
from __future__ import annotations

import math
from typing import Any

from ..knowledge.exposure import regimen_with_drafts, replaces
from ..knowledge.mme import daily_mme, medication_mme
from .common import num, solid_unit
from .base import Finding, Param, Rule

RULE_ID = "breakthrough-dose"
FIELDS = ("draft_name", "draft_ref", "dose_mme", "dose_percent", "scheduled_mme", "range_mg", "range_units",
          "doses_per_day", "problem", "low", "high", "max_doses")


def _scheduled_mme(current, drafts) -> float:
    return daily_mme(u for u in regimen_with_drafts(current, drafts) if u.is_opioid and u.scheduled).total


def _in_units(draft: Any, strength: float, low_mg: float, high_mg: float, factor: float, scheduled_mme: float) -> str:
    """The range as whole tablets (or capsules) of the drafted strength: never "0.4-0.6 tablets". When no whole
    number fits, the nearest one and the share of the daily dose it is."""
    unit = solid_unit(draft.product)[0]
    fits = list(range(max(1, math.ceil(low_mg / strength - 1e-9)), math.floor(high_mg / strength + 1e-9) + 1))
    if fits:
        count = str(fits[0]) if len(fits) == 1 else f"{fits[0]}-{fits[-1]}"
        return f", {count} {unit}{'' if fits[-1] == 1 else 's'} of {num(strength)} mg"
    n = max(1, round((low_mg + high_mg) / 2 / strength))
    percent = round(n * strength * factor / scheduled_mme * 100)
    return (f"; no whole {unit} of {num(strength)} mg falls in this range: {n} {unit}{'' if n == 1 else 's'} "
            f"({num(n * strength)} mg) is {percent}% of the daily dose")


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    with_all_drafts: list[float] = []  # the scheduled total once every draft is signed, computed at most once
    for draft in facts.reported:
        if not (draft.is_opioid and draft.dose and draft.dose.prn and not draft.product.is_er_la_opioid):
            continue
        if any(replaces(draft, c) for c in facts.current_opioids):  # a PRN renewing an order: leave it out
            others = [d for d in facts.drafts if d.ref != draft.ref]
            scheduled_mme = _scheduled_mme(facts.current_opioids, others)
        else:  # the draft changes nothing in the regimen (a PRN draft is not scheduled): one total for all
            if not with_all_drafts:
                with_all_drafts.append(_scheduled_mme(facts.current_opioids, facts.drafts))
            scheduled_mme = with_all_drafts[0]
        if scheduled_mme <= 0:
            continue
        lines = medication_mme(draft)
        per_day = draft.dose.doses_per_day or 0
        too_often = per_day > params["max_doses_per_day"]
        dose_mme = None
        if lines and lines[0].mme_per_day is not None and per_day:
            dose_mme = lines[0].mme_per_day / per_day
        low, high = scheduled_mme * params["low_percent"] / 100, scheduled_mme * params["high_percent"] / 100
        out_of_range = dose_mme is not None and not (low - 1e-9 <= dose_mme <= high + 1e-9)
        if not (too_often or out_of_range):
            continue
        component = next(c for c in draft.product.components if "opioid" in c.ingredient.classes)
        factor = component.ingredient.mme_factor
        range_mg = f"{num(round(low / factor, 1))}-{num(round(high / factor, 1))} mg" if factor else "unknown"
        range_units = ""
        if factor and component.strength_mg and component.per == "unit":
            range_units = _in_units(draft, component.strength_mg, low / factor, high / factor, factor, scheduled_mme)
        problem = "both" if too_often and out_of_range else ("often" if too_often else "size")
        findings.append(Finding(RULE_ID, draft, {
            "draft_name": draft.display, "draft_ref": draft.ref, "dose_mme": num(dose_mme),
            "dose_percent": num(round(dose_mme / scheduled_mme * 100)) if dose_mme is not None else "unknown",
            "scheduled_mme": num(scheduled_mme), "range_mg": range_mg, "range_units": range_units,
            "doses_per_day": num(per_day), "problem": problem, "low": num(params["low_percent"]),
            "high": num(params["high_percent"]), "max_doses": num(params["max_doses_per_day"])}))
    return findings


RULE = Rule(
    id=RULE_ID, position=100, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications'),
    params=(
        Param('low_percent', 10, "seed 000: breakthrough dose 10-15% of the total daily dose"),
        Param('high_percent', 15, "seed 000: breakthrough dose 10-15% of the total daily dose"),
        Param('max_doses_per_day', 4, "seed 000: adjust the baseline if more than 4 breakthrough doses a day are needed"),
    ),
)
