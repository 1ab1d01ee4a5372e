"""oud-moud-offer: an opioid draft, an adult with opioid use disorder recorded in the last 90 days, and no MOUD
current, drafted or ordered (active or completed) in the last 90 days."""
from __future__ import annotations

from datetime import timedelta

from facts_builder import SNOMED, TODAY, condition, order, patient_facts, run

RULE = "oud-moud-offer"
OXY = order("oxycodone hydrochloride 5 MG Oral Tablet", rxnorm="1049621", per_day=4, days=5)
FILM = ("buprenorphine 8 MG / naloxone 2 MG Sublingual Film", "1010604")


def oud(days_ago=30, code="F11.20", display="Opioid dependence, uncomplicated", **kw):
    return condition(code, display, recorded=TODAY - timedelta(days=days_ago), **kw)


def test_f11_20_recorded_30_days_ago_fires():
    [finding] = run(RULE, patient_facts(drafts=[OXY], conditions=[oud()], age=40))
    assert "F11.20" in finding.fields["condition"]
    assert finding.fields["condition_date"] == (TODAY - timedelta(days=30)).isoformat()
    assert finding.suggestions == ()


def test_snomed_opioid_abuse_fires():
    abuse = oud(code="5602001", display="Opioid abuse (disorder)", system=SNOMED)
    assert run(RULE, patient_facts(drafts=[OXY], conditions=[abuse]))


def test_recorded_window_edges():
    assert run(RULE, patient_facts(drafts=[OXY], conditions=[oud(days_ago=90)]))
    assert not run(RULE, patient_facts(drafts=[OXY], conditions=[oud(days_ago=91)]))
    assert not run(RULE, patient_facts(drafts=[OXY], conditions=[oud(days_ago=730)]))


def test_inactive_condition_is_silent():
    assert not run(RULE, patient_facts(drafts=[OXY], conditions=[oud(status="resolved")]))


def test_current_or_drafted_moud_silences():
    current = order(*FILM[:1], rxnorm=FILM[1], per_day=1, days=30, authored=TODAY - timedelta(days=200))
    assert not run(RULE, patient_facts(drafts=[OXY], current=[current], conditions=[oud()]))
    drafted = order(*FILM[:1], rxnorm=FILM[1], per_day=1, days=7)
    assert not run(RULE, patient_facts(drafts=[OXY, drafted], conditions=[oud()]))


def test_moud_order_completed_within_90_days_silences_older_does_not():
    recent = order(*FILM[:1], rxnorm=FILM[1], per_day=1, days=30, status="completed",
                   authored=TODAY - timedelta(days=60))
    assert not run(RULE, patient_facts(drafts=[OXY], current=[recent], conditions=[oud()]))
    old = order(*FILM[:1], rxnorm=FILM[1], per_day=1, days=30, status="completed",
                authored=TODAY - timedelta(days=120))
    assert run(RULE, patient_facts(drafts=[OXY], current=[old], conditions=[oud()]))


def test_buprenorphine_patch_is_not_moud_and_the_card_says_so():
    patch = order("168 HR buprenorphine 0.005 MG/HR Transdermal System [BuTrans]", rxnorm="904882",
                  unit="patch", per_day=None, days=28)
    [finding] = run(RULE, patient_facts(drafts=[patch], conditions=[oud()]))
    assert finding.fields["pain_buprenorphine"] == "yes" and "BuTrans" in finding.fields["buprenorphine_name"]


def test_methadone_counts_as_moud():
    methadone = order("methadone hydrochloride 10 MG Oral Tablet", rxnorm="864706", per_day=1, days=30,
                      authored=TODAY - timedelta(days=10))
    assert not run(RULE, patient_facts(drafts=[OXY], current=[methadone], conditions=[oud()]))


def test_adults_only_and_unknown_age_silent():
    assert not run(RULE, patient_facts(drafts=[OXY], conditions=[oud()], age=17))
    facts = patient_facts(drafts=[OXY], conditions=[oud()], age=None)
    assert not run(RULE, facts) and any(r == RULE for r, _ in facts.unknowns)


def test_no_opioid_draft_is_silent():
    ibuprofen = order("ibuprofen 400 MG Oral Tablet", per_day=3, days=5)
    assert not run(RULE, patient_facts(drafts=[ibuprofen], conditions=[oud()]))
