"""tramadol-serotonergic: tramadol, tapentadol or meperidine together with a serotonergic drug (SNRI, SSRI,
TCA, MAOI incl. linezolid and methylene blue, triptan, trazodone, mirtazapine, lithium, dextromethorphan):
a draft with a current medication in either direction, or two drafts. Critical when an MAOI is current,
drafted, or was taken within the last 14 days.

Sources: seed "Opioids for neuropathic pain" (tramadol can cause serotonin syndrome with SNRIs/SSRIs); FDA 2016
opioid safety communication. Reads the reported drafts, other drafts, current and past medications.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from .common import medication_item
from .base import Finding, Param, Rule

RULE_ID = "tramadol-serotonergic"
FIELDS = ("opioid_name", "partner_class", "draft_name", "draft_ref", "partners")


def _classes(use: Any, wanted: tuple[str, ...]) -> list[str]:
    return [c for c in wanted if use.has_class(c)]


def evaluate(facts: Any, params: dict) -> list:
    findings = []
    washout = timedelta(days=int(params["maoi_washout_days"]))
    serotonergic = tuple(params["serotonergic_classes"])
    recent_maoi = [u for u in facts.history if u.has_class("maoi") and u.end and u.end >= facts.today - washout]
    for draft in facts.reported:
        if draft.has_class("serotonergic_opioid"):
            partners = facts.alongside_with(draft, *serotonergic) + recent_maoi
            opioid = draft
        elif _classes(draft, serotonergic):
            partners = facts.alongside_with(draft, "serotonergic_opioid")
            opioid = partners[0] if partners else None
        else:
            continue
        if not partners or opioid is None:
            continue
        serotonergic_uses = [draft] if opioid is not draft else partners
        maoi = any(u.has_class("maoi") for u in [draft, *partners])
        first_class = next(c for u in serotonergic_uses for c in _classes(u, serotonergic))
        opioid_name = next(c.ingredient.name for c in opioid.product.components if "serotonergic_opioid" in c.ingredient.classes)
        items = []
        for p in partners:
            item = medication_item(p)
            item["classes"] = _classes(p, serotonergic + ("serotonergic_opioid",))
            items.append(item)
        fields = {"opioid_name": opioid_name.capitalize(), "partner_class": first_class,
                  "draft_name": draft.display, "draft_ref": draft.ref}
        removable = tuple(u for u in [draft, *partners] if u.role == "draft")
        findings.append(Finding(RULE_ID, draft, fields, {"partners": items}, variant="maoi" if maoi else None,
                                suggestions=("remove-draft",), removable=removable,
                                involved=frozenset({draft.ref, *(p.ref for p in partners)})))
    return findings


RULE = Rule(
    id=RULE_ID, position=30, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'medication_history'),
    params=(
        Param('maoi_washout_days', 14, "docs/clinical-rules.md §2: critical with an MAOI within 14 days"),
        Param('serotonergic_classes', ["snri", "ssri", "tca", "maoi", "triptan", "other_serotonergic"], "docs/clinical-rules.md §2: SNRI, SSRI, TCA, MAOI (incl. linezolid, methylene blue), triptan, trazodone, mirtazapine, lithium, dextromethorphan (the last four are class other_serotonergic in ingredients.csv); FDA 2016 opioid safety communication"),
    ),
)
