"""methadone-qtc: a methadone draft for a patient whose latest QTc in the window is prolonged, or whose methadone
dose passes 100 mg/day with no ECG since.

Sources: APS/CPDD/HRS methadone safety guideline (Chou et al., J Pain 2014;15(4):321-37): against methadone with a
baseline QTc > 500 ms; consider alternate opioids at >= 450 but < 500 ms and correct reversible causes; an ECG within
the past year (3 months with QT risk factors) can serve as the baseline. Krantz et al., Ann Intern Med
2009;150(6):387-95 (QTc screening in methadone treatment): QTc > 450 but < 500 ms, discuss risks and benefits and
monitor more often; > 500 ms, consider discontinuing or reducing methadone or an alternative; additional ECG "if the
methadone dosage exceeds 100 mg/d". Methadone boxed warning (life-threatening QT prolongation; secondary here).

Bands, on the newest QTc (docs/clinical-rules.md §1.6, ``facts.qtc``) within ``baseline_window_days``:
- > 500 ms: critical for a new start; warning when the patient is already on methadone (a renewal or a change).
- 450 to 500 ms: warning. APS's "> 500" and "≥ 450 but < 500" leave exactly 500 ms in neither band: it is put in
  the warning band (project choice, stated on the card).
- below 450 ms, or no QTc in the window: no QTc card. A new start without a QTc is methadone-initiation's (it
  suggests the baseline ECG): no duplicate card.
Dose: for a patient already on methadone, a draft above ``ecg_dose_mg_per_day`` with no ECG (or QTc) dated after
the day the dose passed it (today when this draft raises it; else the start of the current order above it), and
no ECG already ordered: info, suggesting an ECG. When that day cannot be known (an undated order, a current dose
that cannot be computed) the rule stays silent and says so.

Suggestions: remove the draft, except for methadone for opioid use disorder (the draft's reason, or without one an
active OUD condition: the card still shows, never suggests removing it, and names buprenorphine as an option) and
for a patient already on methadone with a QTc of 450-500 ms (Krantz: discuss and monitor more often; APS: consider
alternatives and correct reversible causes; removing a renewal would stop methadone abruptly).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from ..knowledge.lenient import items
from ..knowledge.observations import group_codes
from .common import num
from .base import Finding, Param, Rule

RULE_ID = "methadone-qtc"
FIELDS = ("draft_name", "draft_ref", "qtc", "qtc_date", "qtc_name", "avoid_ms", "caution_ms", "window_days",
          "methadone_mg", "ecg_dose", "dose_since", "since_date", "moud", "qtc_seen")
_ECG_WORDS = ("ecg", "ekg", "electrocardiogra")
_ORDER_DONE = {"revoked", "entered-in-error", "completed", "cancelled"}


def _methadone(use: Any) -> bool:
    return use.product is not None and "methadone" in use.product.ingredient_names


def _mg_per_day(use: Any) -> float | None:
    dose = use.dose.for_ingredient("methadone") if use.dose is not None else None
    return dose.mg_per_day if dose is not None else None


def _ecg_ordered(facts: Any) -> bool:
    """An ECG is already drafted or active (a ServiceRequest coded 12-lead ECG or named ECG/EKG)."""
    codes = group_codes("ecg")
    for order in list(facts.other_drafts_orders) + list(facts.care):
        if not isinstance(order, dict) or order.get("resourceType") not in ("ServiceRequest", "DiagnosticOrder"):
            continue
        if str(order.get("status") or "") in _ORDER_DONE:
            continue
        concepts = [order.get("code")] + [i.get("code") for i in items(order.get("item")) if isinstance(i, dict)]
        for concept in (c for c in concepts if isinstance(c, dict)):
            codings = [c for c in items(concept.get("coding")) if isinstance(c, dict)]
            text = " ".join([str(concept.get("text") or "")] + [str(c.get("display") or "") for c in codings]).lower()
            if any(str(c.get("code")) in codes for c in codings) or any(w in text for w in _ECG_WORDS):
                return True
    return False


def _dose_passed_on(facts: Any, current: list, limit: float) -> tuple[date | None, bool]:
    """The day the methadone dose passed ``limit`` (today when the draft raises it) and whether it is known."""
    doses = [(_mg_per_day(u), u.start) for u in current]
    if any(mg is None for mg, _ in doses):
        return None, False
    above = [start for mg, start in doses if mg > limit]
    if not above:
        return facts.today, True
    if any(start is None for start in above):
        return None, False
    return min(above), True


def _ecg_after(facts: Any, day: date) -> bool:
    """An ECG (Observation or Procedure) or a QTc dated after ``day``."""
    days = (facts.today - day).days - 1
    if days < 0:
        return False
    return bool(facts.documented("ecg", days) or facts.qtc(days))


def evaluate(facts: Any, params: dict) -> list:
    drafts = [d for d in facts.reported if _methadone(d)]
    if not drafts:
        return []
    current = [u for u in facts.current if _methadone(u)]
    qtc = facts.qtc(params["baseline_window_days"])
    findings = []
    for draft in drafts:
        moud = facts.indicated_for(draft, "opioid_use_disorder")
        mg = _mg_per_day(draft)
        fields = {"draft_name": draft.display, "draft_ref": draft.ref, "avoid_ms": num(params["avoid_ms"]),
                  "caution_ms": num(params["caution_ms"]), "window_days": params["baseline_window_days"],
                  "methadone_mg": num(mg) if mg is not None else "unknown",
                  "ecg_dose": num(params["ecg_dose_mg_per_day"]), "moud": "yes" if moud else "no",
                  "qtc": "none", "qtc_date": "", "qtc_name": "", "dose_since": "", "since_date": "", "qtc_seen": "no"}
        if qtc is not None:
            fields.update(qtc=num(qtc.value), qtc_date=qtc.when.isoformat(), qtc_name=qtc.name or "QTc", qtc_seen="yes")
        variant = None
        if qtc is not None and qtc.value > params["avoid_ms"]:
            variant = "avoid-continuing" if current else None  # None: the critical card (a new start)
        elif qtc is not None and qtc.value >= params["caution_ms"]:
            variant = "caution-continuing" if current else "caution-new"
        elif current:
            if mg is None:
                facts.unknown(RULE_ID, "methadone dose of the draft not computable")
                continue
            if mg <= params["ecg_dose_mg_per_day"]:
                continue
            since, known = _dose_passed_on(facts, current, params["ecg_dose_mg_per_day"])
            if not known or since is None:
                facts.unknown(RULE_ID, "methadone dose history: when the dose passed the ECG dose is unknown")
                continue
            if _ecg_after(facts, since) or _ecg_ordered(facts):
                continue
            fields.update(dose_since="today" if since == facts.today else "earlier", since_date=since.isoformat())
            findings.append(Finding(RULE_ID, draft, fields, variant="dose-ecg", suggestions=("order-ecg",)))
            continue
        else:
            continue
        # No removal for MOUD (CDC: not withheld); nor for a patient on methadone whose QTc is 450-500 ms: both
        # sources ask to weigh the risks and monitor, and removing a renewal stops methadone abruptly.
        remove = not moud and variant != "caution-continuing"
        findings.append(Finding(RULE_ID, draft, fields, variant=variant,
                                suggestions=("remove-draft",) if remove else (),
                                removable=(draft,) if remove else ()))
    return findings


RULE = Rule(
    id=RULE_ID, position=220, evaluate=evaluate, fields=FIELDS,
    reads=('drafts', 'current_medications', 'conditions', 'observations', 'labs', 'procedures', 'care'),
    params=(
        Param('avoid_ms', 500, "APS/CPDD/HRS 2014 (Chou et al.): the panel recommends against methadone with a "
                               "baseline QTc interval > 500 ms; Krantz 2009 Rec 4: QTc exceeds 500 ms"),
        Param('caution_ms', 450, "APS/CPDD/HRS 2014: consider alternate opioids with a baseline QTc >= 450 ms but "
                                 "< 500 ms; Krantz 2009 Rec 4: greater than 450 ms but less than 500 ms"),
        Param('baseline_window_days', 365,
              "APS/CPDD/HRS 2014: an ECG within the past year with a QTc < 450 ms can be used for the baseline "
              "(within 3 months for patients with QTc risk factors; those risk factors are not listed in a source "
              "read here, so one 12-month window is used)"),
        Param('ecg_dose_mg_per_day', 100, "Krantz 2009 Rec 3: additional electrocardiography is recommended if "
                                          "the methadone dosage exceeds 100 mg/d"),
    ),
)
