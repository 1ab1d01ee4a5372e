"""The store on both databases it supports: SQLite (the embedded default) and a real PostgreSQL server.

What a hospital relies on: feedback stored once and tied to its rule, governance figures computed from it,
token ids refused when replayed, and several replicas sharing one PostgreSQL database.
"""
from __future__ import annotations

import sqlite3
import time
import uuid
from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select, text

from cds_service import create_app
from cds_service.review import governance
from cds_service.store import Store, cards_shown
from conftest import FIXTURE_NOW, load_json
from conftest import ISS, JWKS, token

NOW = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
YESTERDAY = datetime(2026, 11, 21, 9, 30, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    else:
        store = Store(request.getfixturevalue("postgres_url"))
    yield store
    store.close()


def overridden(card: str, when: str, display: str | None = None, code: str | None = None) -> dict:
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": when}
    if display or code:
        item["overrideReason"] = {"reason": {"code": code or display.lower().replace(" ", "-"),
                                             "system": "http://example.org/reasons",
                                             "display": display}}
    return item


def test_feedback_is_tied_to_its_rule_and_stored_once(store):
    store.record_cards("svc", [("card-1", "high-mme", "warning"), ("card-2", "naloxone-coprescribe", "warning")], NOW)
    items = [overridden("card-1", "2026-11-22T15:01:00Z", "Patient in palliative care"),
             {"card": "card-2", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T15:01:30Z",
              "acceptedSuggestions": [{"id": "s-naloxone"}]}]
    assert store.add_feedback("svc", items, NOW)[:2] == (2, 0)
    assert store.add_feedback("svc", items, NOW)[:2] == (0, 2)  # the EHR retried: nothing stored twice
    rows = store.feedback()
    assert [(r["card_uuid"], r["rule_id"], r["outcome"]) for r in rows] == [
        ("card-1", "high-mme", "overridden"), ("card-2", "naloxone-coprescribe", "accepted")]
    assert rows[0]["override_display"] == "Patient in palliative care"
    assert rows[1]["accepted_suggestions"] == ["s-naloxone"]


def test_cards_queued_by_a_process_are_written_when_it_closes(store):
    store.record_cards("svc", [("card-1", "high-mme", "warning")], NOW)
    store.close()  # a worker exiting
    reopened = Store(store.engine.url.render_as_string(hide_password=False))
    try:
        assert [r["card_uuid"] for r in _shown(reopened)] == ["card-1"]
    finally:
        reopened.close()


def _shown(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(cards_shown)).mappings()]


def test_governance_figures_per_rule(store):
    store.record_cards("svc", [(f"y{i}", "high-mme", "warning") for i in range(2)], YESTERDAY)
    store.record_cards("svc", [(f"t{i}", "high-mme", "warning") for i in range(3)]
                       + [("b1", "opioid-bowel-regimen", "info")], NOW)
    store.add_feedback("svc", [overridden("y0", "2026-11-21T09:31:00Z", "Benefit outweighs risk"),
                               overridden("t0", "2026-11-22T15:01:00Z", "Benefit outweighs risk"),
                               overridden("t1", "2026-11-22T15:02:00Z", "Patient in palliative care"),
                               {"card": "t2", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T15:03:00Z"}], NOW)
    summary = store.rule_summary()
    mme = summary["high-mme"]
    assert (mme["shown"], mme["accepted"], mme["overridden"]) == (5, 1, 3)
    assert mme["override_rate"] == pytest.approx(0.75)
    assert mme["reasons"].most_common(1) == [("Benefit outweighs risk", 2)]
    assert summary["opioid-bowel-regimen"]["override_rate"] is None  # shown, never answered
    window, figures = governance(summary, {}, date(2026, 11, 22), days=3)
    row = next(f for f in figures if f.rule_id == "high-mme")
    assert window[-1] == date(2026, 11, 22) and row.shown_per_day == [0, 2, 3]
    assert row.overridden_per_day == [0, 1, 2]


def test_feedback_for_an_unknown_card_is_kept_without_a_rule(store):
    assert store.add_feedback("svc", [overridden("never-shown", "2026-11-22T15:01:00Z")], NOW)[:2] == (1, 0)
    assert store.feedback()[0]["rule_id"] is None
    assert store.rule_summary() == {}


def test_a_token_id_is_used_once_until_it_expires(store):
    now = time.time()
    assert store.use_jti("iss|a", now + 300, now)
    assert not store.use_jti("iss|a", now + 300, now + 1)
    assert store.use_jti("iss|b", now + 300, now)
    assert store.use_jti("iss|a", now + 900, now + 301)  # the first token has expired
    assert store.ping()


def test_an_unsupported_database_url_is_refused():
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        Store("mysql://user@localhost/cds")


# --- two replicas, one PostgreSQL database --------------------------------------------------------------------

@pytest.fixture
def replicas(config, postgres_url):
    """Two independent app instances (as two pods would run) sharing one PostgreSQL database."""
    shared = {**config, "DATABASE_URL": postgres_url, "AUTH_MODE": "required", "TRUSTED_ISSUERS": {ISS: {"jwks": JWKS}},
              "PUBLIC_BASE_URL": "https://cds.hospital.example"}
    apps = [create_app(shared), create_app(shared)]
    yield [a.test_client() for a in apps]
    for a in apps:
        a.extensions["cds_store"].engine.dispose()


def _auth(path: str) -> dict:
    return {"Authorization": f"Bearer {token(aud='https://cds.hospital.example' + path)}"}


def test_feedback_from_two_replicas_lands_in_one_database(replicas):
    first, second = replicas
    service = "pain-medication-safety-order-sign"
    path = f"/cds-services/{service}"
    body = load_json("requests/naloxone-coprescribe/fires-history-of-opioid-use-disorder.order-sign.r4.json")
    cards = first.post(path, json=body, headers=_auth(path)).get_json()["cards"]
    assert cards, "the fixture fires"
    # The EHR's feedback for the first replica's cards arrives at the second replica, and vice versa.
    feedback = {"feedback": [overridden(cards[0]["uuid"], "2026-11-22T15:05:00Z", "Benefit outweighs risk")]}
    response = second.post(f"{path}/feedback", json=feedback, headers=_auth(f"{path}/feedback"))
    assert response.status_code == 200 and response.get_json() == {"stored": 1, "duplicates": 0}
    again = first.post(f"{path}/feedback", json=feedback, headers=_auth(f"{path}/feedback"))
    assert again.get_json() == {"stored": 0, "duplicates": 1}
    rule = cards[0]["source"]["topic"]["code"]
    for client in replicas:
        summary = client.application.extensions["cds_store"].rule_summary()
        assert summary[rule]["overridden"] == 1 and summary[rule]["shown"] >= 1


def test_a_token_replayed_to_another_replica_is_refused(replicas):
    first, second = replicas
    headers = {"Authorization": f"Bearer {token(aud='https://cds.hospital.example/cds-services')}"}
    assert first.get("/cds-services", headers=headers).status_code == 200
    replay = second.get("/cds-services", headers=headers)
    assert replay.status_code == 401 and "already used" in replay.get_json()["message"]


def test_feedback_survives_a_restart_on_postgresql(config, postgres_url):
    settings = {**config, "DATABASE_URL": postgres_url}
    first = create_app(settings)
    item = {"card": str(uuid.uuid4()), "outcome": "accepted", "outcomeTimestamp": FIXTURE_NOW.isoformat()}
    first.test_client().post("/cds-services/pain-medication-safety-order-sign/feedback", json={"feedback": [item]})
    first.extensions["cds_store"].engine.dispose()
    second = create_app(settings)
    assert [r["card_uuid"] for r in second.extensions["cds_store"].feedback()] == [item["card"]]
    second.extensions["cds_store"].engine.dispose()


def test_readiness_reports_an_unreachable_database(app, client, monkeypatch):
    from sqlalchemy import create_engine

    assert client.get("/readyz").get_json() == {"status": "ready", "checks": {"store": "ok", "cards": "ok"}}
    store = app.extensions["cds_store"]
    monkeypatch.setattr(store, "engine", create_engine("postgresql+psycopg://cds@127.0.0.1:9/none",
                                                       connect_args={"connect_timeout": 1}))
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["store"].startswith("failed")
    assert client.get("/healthz").status_code == 200  # liveness does not depend on the database


def test_hook_call_answers_while_its_cards_cannot_be_recorded(client, caplog):
    """The card record is written off the call's path: a database that refuses it costs the record, not the
    cards (it used to be a 500)."""
    with client.application.extensions["cds_store"].engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE cards_shown")
    body = load_json("requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.order-sign.r4.json")
    response = client.post("/cds-services/pain-medication-safety-order-sign", json=body)
    assert response.status_code == 200 and response.get_json()["cards"]
    assert client.application.extensions["cds_store"].flush()
    assert any("could not record" in r.getMessage() for r in caplog.records)


def test_card_records_beyond_the_bound_are_dropped_while_the_database_is_locked(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("cds_service.store.MAX_PENDING_CALLS", 1)
    monkeypatch.setattr("cds_service.store.BATCH_SECONDS", 0)  # the writer commits at once (and waits for the lock)
    path = tmp_path / "locked.sqlite3"
    store = Store(f"sqlite:///{path}")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    try:
        store.record_cards("svc", [("first", "high-mme", "warning")], NOW)
        deadline = time.monotonic() + 5
        while store._pending.qsize() and time.monotonic() < deadline:  # the writer took it...
            time.sleep(0.01)
        time.sleep(0.3)  # ...and now waits for the lock
        store.record_cards("svc", [("second", "high-mme", "warning")], NOW)  # waits in the queue
        store.record_cards("svc", [("third", "high-mme", "warning")], NOW)  # beyond the bound: not recorded
        assert any("not recorded" in r.getMessage() for r in caplog.records)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.flush()
    assert sorted(r["card_uuid"] for r in _shown(store)) == ["first", "second"]
    store.close()


def test_sqlite_token_ids_live_beside_the_database_and_are_shared_by_its_processes(tmp_path):
    """The replay check must not wait for the card recorder's write lock: with SQLite its token ids are in a file
    of their own; a second store on the same database (another worker) still refuses a replayed token."""
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    first, second = Store(url), Store(url)
    try:
        now = time.time()
        assert first.use_jti("iss|a", now + 300, now)
        assert not second.use_jti("iss|a", now + 300, now + 1)
        assert (tmp_path / "store.tokens.sqlite3").exists()
        with sqlite3.connect(tmp_path / "store.sqlite3") as conn:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "cards_shown" in tables and "jti_seen" not in tables
    finally:
        first.close()
        second.close()


def test_postgresql_keeps_token_ids_in_an_unlogged_table(postgres_url):
    store = Store(postgres_url)
    try:
        with store.engine.connect() as conn:
            persistence = conn.execute(text("SELECT relpersistence FROM pg_class WHERE relname = 'jti_seen' "
                                            "AND pg_table_is_visible(oid)")).scalar()
        assert persistence == "u"
        now = time.time()
        assert store.use_jti("iss|u", now + 300, now) and not store.use_jti("iss|u", now + 300, now + 1)
    finally:
        store.close()


def test_flush_writes_the_cards_of_a_batch_at_once(tmp_path, monkeypatch):
    """The recorder waits up to a second to batch commits; a flush (a worker exiting, the review page) does not
    wait for the batch to fill."""
    monkeypatch.setattr("cds_service.store.BATCH_SECONDS", 30)
    store = Store(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        store.record_cards("svc", [("card-1", "high-mme", "warning")], NOW)
        assert store.flush(timeout=10)  # True: written within 10 s, not after the 30 s batch window
        assert [r["card_uuid"] for r in _shown(store)] == ["card-1"]
    finally:
        store.close()
