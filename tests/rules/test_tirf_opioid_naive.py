"""tirf-opioid-naive: transmucosal fentanyl needs opioid tolerance and a current around-the-clock opioid."""
from __future__ import annotations

from datetime import timedelta

from facts_builder import TODAY, condition, excluded, order, patient_facts, run

RULE = "tirf-opioid-naive"
FENTORA = dict(medication="fentanyl 0.1 MG Buccal Tablet", rxnorm="668363", unit="tablet", per_day=4, prn=True)


def tirf(**kw):
    spec = {**FENTORA, **kw}
    return order(spec.pop("medication"), **spec)


def morphine_er(days_ago: int, per_day: float = 2, **kw):
    """12 HR morphine sulfate 30 MG ER, ``per_day`` tablets (60 mg/day at 2), started ``days_ago``."""
    return order("12 HR morphine sulfate 30 MG Extended Release Oral Tablet", rxnorm="891885", per_day=per_day,
                 authored=TODAY - timedelta(days=days_ago), **kw)


def test_no_opioid_fires_critical_with_removal():
    [finding] = run(RULE, patient_facts(drafts=[tirf()]))
    assert finding.fields["reason"] == "no_opioid"
    assert finding.suggestions == ("remove-draft",)
    assert finding.removable == (finding.draft,)


def test_each_transmucosal_form_is_tirf():
    for name, code in [("fentanyl 0.2 MG Oral Lozenge", "310295"), ("fentanyl 0.1 MG Sublingual Tablet", "1053647"),
                       ("fentanyl 0.1 MG/ACTUAT Metered Dose Nasal Spray", "1115573"),
                       ("fentanyl 0.1 MG/ACTUAT Mucosal Spray", "1237050")]:
        assert len(run(RULE, patient_facts(drafts=[tirf(medication=name, rxnorm=code)]))) == 1, name


def test_tolerant_on_scheduled_morphine_is_silent():
    assert run(RULE, patient_facts(drafts=[tirf()], current=[morphine_er(30)])) == []


def test_below_threshold_fires():
    [finding] = run(RULE, patient_facts(drafts=[tirf()], current=[morphine_er(30, per_day=1)]))
    assert finding.fields["reason"] == "below_threshold"
    assert finding.fields["tolerance_percent"] == "50"


def test_tolerance_dose_for_less_than_a_week_fires():
    [finding] = run(RULE, patient_facts(drafts=[tirf()], current=[morphine_er(3)]))
    assert finding.fields["reason"] == "too_short"
    assert finding.fields["days_on_opioids"] == 3


def test_as_needed_opioid_alone_gives_no_tolerance():
    oxy_prn = order("oxycodone hydrochloride 10 MG Oral Tablet", rxnorm="1049683", per_day=6, prn=True,
                    authored=TODAY - timedelta(days=60))
    [finding] = run(RULE, patient_facts(drafts=[tirf()], current=[oxy_prn]))
    assert finding.fields["reason"] == "dose_unknown"


def test_tolerant_but_the_scheduled_opioid_is_being_stopped_fires():
    current = morphine_er(30, id="rx-morphine-er")
    stop = {**morphine_er(0), "status": "stopped",
            "priorPrescription": {"reference": "MedicationRequest/rx-morphine-er"}}
    [finding] = run(RULE, patient_facts(drafts=[tirf()], current=[current], draft_others=[stop]))
    assert finding.fields["reason"] == "no_around_the_clock"


def test_cancer_does_not_silence_it():
    cancer = condition("C34.90", "Malignant neoplasm of unspecified part of unspecified bronchus or lung")
    facts = patient_facts(drafts=[tirf()], conditions=[cancer])
    assert facts.serious_illness  # the first-wave exclusion would apply ...
    assert not excluded(RULE, facts)  # ... but this rule declares none
    assert len(run(RULE, facts)) == 1


def test_patch_and_buprenorphine_film_are_not_tirf():
    patch = order("72 HR fentanyl 0.025 MG/HR Transdermal System", rxnorm="245134", unit="patch", per_day=None)
    bup = order("buprenorphine 8 MG / naloxone 2 MG Sublingual Film", rxnorm="1010604", unit="film")
    assert run(RULE, patient_facts(drafts=[patch, bup])) == []
