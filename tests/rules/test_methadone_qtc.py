"""methadone-qtc: QTc bands (> 500 ms, 450-500 ms), new start against renewal, MOUD, and the > 100 mg/day ECG."""
from __future__ import annotations

from datetime import timedelta

from facts_builder import ICD10CM, LOINC, TODAY, lab, order, patient_facts, run

RULE = "methadone-qtc"


def methadone(tablets_per_day: float = 2, *, days_ago: int = 0, **kw):
    """methadone hydrochloride 10 MG Oral Tablet, ``tablets_per_day`` a day (in one daily dose)."""
    return order("methadone hydrochloride 10 MG Oral Tablet", rxnorm="864706", dose=tablets_per_day, per_day=1,
                 authored=TODAY - timedelta(days=days_ago), **kw)


def qtc(ms: float, days_ago: int = 20, code: str = "8636-3", unit: str = "ms"):
    return lab(code, ms, unit, display="QTc", when=TODAY - timedelta(days=days_ago))


def findings(draft, *, current=(), observations=(), **kw):
    return run(RULE, patient_facts(drafts=[draft], current=list(current), observations=list(observations), **kw))


def test_new_start_above_500_is_critical_with_removal():
    [f] = findings(methadone(), observations=[qtc(510)])
    assert f.variant is None and f.suggestions == ("remove-draft",)  # the card's own indicator: critical
    assert f.fields["qtc"] == "510"


def test_band_edges():
    assert findings(methadone(), observations=[qtc(500)])[0].variant == "caution-new"  # 500 ms: the warning band
    assert findings(methadone(), observations=[qtc(501)])[0].variant is None
    assert findings(methadone(), observations=[qtc(450)])[0].variant == "caution-new"
    assert findings(methadone(), observations=[qtc(449)]) == []


def test_patient_on_methadone_gets_warnings_not_critical():
    current = [methadone(days_ago=60)]
    [over] = findings(methadone(), current=current, observations=[qtc(520)])
    assert over.variant == "avoid-continuing" and over.suggestions == ("remove-draft",)
    [band] = findings(methadone(), current=current, observations=[qtc(470)])
    assert band.variant == "caution-continuing"
    assert band.suggestions == ()  # discuss and monitor: removing a renewal would stop methadone abruptly


def test_qtc_outside_the_window_or_none_is_silent_for_a_new_start():
    assert findings(methadone(), observations=[qtc(520, days_ago=400)]) == []
    assert findings(methadone()) == []  # methadone-initiation suggests the baseline ECG


def test_newest_qtc_wins():
    assert findings(methadone(), observations=[qtc(520, days_ago=100), qtc(430, days_ago=10)]) == []


def test_units_and_codes():
    assert findings(methadone(), observations=[qtc(0.51, unit="s")])[0].fields["qtc"] == "510"
    assert findings(methadone(), observations=[qtc(505, code="76635-2")])[0].variant is None  # Bazett
    assert findings(methadone(), observations=[qtc(470, code="76634-5")])[0].variant == "caution-new"  # Fridericia


def test_qtc_inside_an_ecg_panel_counts():
    panel = {"resourceType": "Observation", "id": "ecg-1", "status": "final",
             "code": {"coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}]},
             "effectiveDateTime": (TODAY - timedelta(days=5)).isoformat(),
             "component": [{"code": {"coding": [{"system": LOINC, "code": "8636-3"}]},
                            "valueQuantity": {"value": 512, "unit": "ms", "system": "http://unitsofmeasure.org",
                                              "code": "ms"}}]}
    assert findings(methadone(), observations=[panel])[0].variant is None


def test_moud_methadone_is_never_offered_for_removal():
    oud = {"coding": [{"system": ICD10CM, "code": "F11.20", "display": "Opioid dependence, uncomplicated"}]}
    [f] = findings(methadone(reason=oud), observations=[qtc(520)])
    assert f.suggestions == () and f.removable == () and f.fields["moud"] == "yes"


def test_dose_above_100_with_this_order_suggests_an_ecg():
    [f] = findings(methadone(12), current=[methadone(8, days_ago=90)], observations=[qtc(430, days_ago=60)])
    assert f.variant == "dose-ecg" and f.suggestions == ("order-ecg",)
    assert f.fields["methadone_mg"] == "120" and f.fields["dose_since"] == "today"


def test_dose_exactly_100_is_not_above():
    assert findings(methadone(10), current=[methadone(8, days_ago=90)]) == []


def test_dose_already_above_100_needs_an_ecg_after_it_passed():
    current = [methadone(12, days_ago=60)]
    assert findings(methadone(12), current=current, observations=[qtc(440, days_ago=30)]) == []
    [f] = findings(methadone(12), current=current, observations=[qtc(440, days_ago=90)])
    assert f.fields["dose_since"] == "earlier" and f.fields["since_date"] == (TODAY - timedelta(days=60)).isoformat()


def test_an_ecg_already_ordered_silences_the_dose_card():
    ecg = {"resourceType": "ServiceRequest", "id": "sr-ecg", "status": "draft", "intent": "order",
           "code": {"coding": [{"system": LOINC, "code": "11524-6"}], "text": "12-lead ECG"},
           "subject": {"reference": "Patient/pt-unit"}}
    assert findings(methadone(12), current=[methadone(8, days_ago=90)], draft_others=[ecg]) == []


def test_new_start_above_100_without_qtc_is_left_to_methadone_initiation():
    assert findings(methadone(12)) == []
