"""Feedback as a careless or hostile client sends it, against both stores the service supports (SQLite, the
embedded default, and a real PostgreSQL server): every item the schema accepts either fits the store or is
refused by name; one bad item never costs the others; the governance figures count a card once."""
from __future__ import annotations

import copy
import threading
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import OperationalError

from cds_service import create_app
from conftest import ROOT, SERVICE_FOR_HOOK, metric_value

FEEDBACK_URL = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}/feedback"
FEEDBACK_SCHEMA = ROOT / "cds_service" / "schemas" / "feedback.schema.json"
NOW = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, config):
    settings_ = dict(config)
    if request.param == "postgresql":
        settings_["DATABASE_URL"] = request.getfixturevalue("postgres_url")
    app = create_app(settings_)
    yield app
    app.extensions["cds_store"].close()
    app.extensions["cds_store"].engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def override(card: str, when: str = "2026-11-22T15:01:00Z", code: str = "patient-in-palliative-care",
             display: str = "Patient in palliative care", comment: str | None = None) -> dict:
    reason: dict = {"reason": {"code": code, "system": "http://example.org/override-reasons", "display": display}}
    if comment is not None:
        reason["userComment"] = comment
    return {"card": card, "outcome": "overridden", "outcomeTimestamp": when, "overrideReason": reason}


def stored(app) -> list[dict]:
    return app.extensions["cds_store"].feedback()


BAD_ITEMS = {
    "a card id of 65 characters": ({"card": "c" * 65}, "feedback[1].card"),
    "an override code of 201 characters": ({"overrideReason": {"reason": {"code": "x" * 201}}},
                                           "feedback[1].overrideReason.reason.code"),
    "a NUL in the comment": ({"overrideReason": {"userComment": "ok\x00then"}}, "feedback[1].overrideReason.userComment"),
    "a lone surrogate in the display": ({"overrideReason": {"reason": {"code": "c", "display": "risk \ud800"}}},
                                        "feedback[1].overrideReason.reason.display"),
    "a NUL in the card id": ({"card": "card\x00"}, "feedback[1].card"),
    "30 February": ({"outcomeTimestamp": "2026-02-30T10:00:00Z"}, "feedback[1].outcomeTimestamp"),
    "year 0": ({"outcomeTimestamp": "0000-01-01T00:00:00Z"}, "feedback[1].outcomeTimestamp"),
    "an Arabic-Indic digit in the fraction": ({"outcomeTimestamp": "2026-03-01T10:00:00.\u0661Z"},
                                              "feedback[1].outcomeTimestamp"),
    "a comment of 10,001 characters": ({"overrideReason": {"userComment": "y" * 10001}},
                                       "feedback[1].overrideReason.userComment"),
    "101 accepted suggestions": ({"outcome": "accepted", "acceptedSuggestions": [{"id": f"s{i}"} for i in range(101)]},
                                 "feedback[1].acceptedSuggestions"),
}


@pytest.mark.parametrize("case", BAD_ITEMS, ids=list(BAD_ITEMS))
def test_a_bad_item_is_refused_by_name_and_the_others_are_stored(app, client, case):
    change, field = BAD_ITEMS[case]
    bad = {**override("card-bad"), **change}
    body = {"feedback": [override("card-1"), bad, override("card-2", "2026-11-22T15:02:00Z")]}
    response = client.post(FEEDBACK_URL, json=body)
    assert response.status_code == 400
    answer = response.get_json()
    assert answer["field"] == field
    assert [r["index"] for r in answer["refused"]] == [1]
    assert answer["stored"] == 2 and answer["duplicates"] == 0
    assert sorted(r["card_uuid"] for r in stored(app)) == ["card-1", "card-2"]
    again = client.post(FEEDBACK_URL, json=body).get_json()  # the EHR retries the whole batch: nothing doubles
    assert (again["stored"], again["duplicates"]) == (0, 2)
    assert len(stored(app)) == 2


def test_forty_fractional_digits_are_stored_to_the_microsecond(app, client):
    body = {"feedback": [override("card-1", "2026-11-22T15:01:00." + "1234567890" * 4 + "Z")]}
    assert client.post(FEEDBACK_URL, json=body).get_json() == {"stored": 1, "duplicates": 0}
    assert stored(app)[0]["outcome_timestamp"] == "2026-11-22T15:01:00.123456Z"


def test_one_instant_written_two_ways_is_one_item(app, client):
    first = client.post(FEEDBACK_URL, json={"feedback": [override("card-1", "2026-11-22T15:01:00Z")]})
    second = client.post(FEEDBACK_URL, json={"feedback": [override("card-1", "2026-11-22T10:01:00.000-05:00")]})
    assert first.get_json()["stored"] == 1
    assert second.get_json() == {"stored": 0, "duplicates": 1}


def test_the_longest_values_the_store_holds_are_stored_whole(app, client):
    item = override("c" * 64, code="x" * 200, display="d" * 10000, comment="\u00e9\u6f22\U0001f48a" * 3333)
    assert client.post(FEEDBACK_URL, json={"feedback": [item]}).get_json() == {"stored": 1, "duplicates": 0}
    row = stored(app)[0]
    assert (row["card_uuid"], row["override_code"], row["user_comment"]) == (
        "c" * 64, "x" * 200, "\u00e9\u6f22\U0001f48a" * 3333)


def test_a_batch_beyond_500_items_is_refused_whole_naming_the_bound(app, client):
    body = {"feedback": [override(f"card-{i}") for i in range(501)]}
    response = client.post(FEEDBACK_URL, json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == "feedback"
    assert "500" in response.get_json()["message"]
    assert stored(app) == []


def test_a_batch_of_500_items_is_stored(app, client):
    body = {"feedback": [override(f"card-{i}", comment="c" * 1000) for i in range(500)]}
    assert client.post(FEEDBACK_URL, json=body).get_json() == {"stored": 500, "duplicates": 0}


def test_repeated_overrides_of_one_card_count_once_in_the_governance_figures(app, client):
    store = app.extensions["cds_store"]
    store.record_cards("svc", [("card-1", "high-mme", "warning"), ("card-2", "high-mme", "warning")], NOW)
    repeats = [override("card-1", f"2026-11-22T15:{m:02d}:00Z") for m in range(1, 60)]
    body = {"feedback": repeats + [override("card-2", "2026-11-22T15:03:00Z", code="benefit", display="Benefit")]}
    assert client.post(FEEDBACK_URL, json=body).get_json()["stored"] == 60
    figures = store.rule_summary()["high-mme"]
    assert (figures["overridden"], figures["accepted"]) == (2, 0)
    assert figures["reasons"] == {"Patient in palliative care": 1, "Benefit": 1}


def test_a_card_counts_by_its_latest_outcome(app, client):
    store = app.extensions["cds_store"]
    store.record_cards("svc", [("card-1", "high-mme", "warning")], NOW)
    body = {"feedback": [override("card-1", "2026-11-22T15:01:00Z"),
                         {"card": "card-1", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T15:05:00Z"}]}
    client.post(FEEDBACK_URL, json=body)
    figures = store.rule_summary()["high-mme"]
    assert (figures["overridden"], figures["accepted"]) == (0, 1)


def test_metrics_count_stored_items_only(app, client):
    def count() -> float:
        return metric_value(client.get("/metrics").get_data(as_text=True), "cds_feedback_total", outcome="overridden")
    before = count()
    body = {"feedback": [override("card-1"), {**override("card-2"), "card": "x" * 65}]}
    client.post(FEEDBACK_URL, json=body)
    client.post(FEEDBACK_URL, json=body)  # the retry stores nothing new
    assert count() - before == 1


def test_the_store_failing_is_a_503_with_retry_after_and_nothing_half_stored(app, client, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("connection refused"))
    monkeypatch.setattr(app.extensions["cds_store"].engine, "begin", down)
    response = client.post(FEEDBACK_URL, json={"feedback": [override("card-1")]})
    assert response.status_code == 503
    assert response.get_json()["error"] == "store_unavailable"
    assert int(response.headers["Retry-After"]) > 0
    monkeypatch.undo()
    assert stored(app) == []
    assert client.post(FEEDBACK_URL, json={"feedback": [override("card-1")]}).get_json()["stored"] == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(st.characters(blacklist_categories=()), max_size=80)
    | st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=15), inner, max_size=5),
    max_leaves=20)
texts = st.text(st.characters(blacklist_categories=()), max_size=300) | st.sampled_from(["", "c" * 64, "c" * 65])
timestamps = st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,45})?)?(Z|[+-]\d{2}:\d{2})\Z") | texts
items = st.fixed_dictionaries(
    {"card": texts, "outcome": st.sampled_from(["accepted", "overridden", "x"]), "outcomeTimestamp": timestamps},
    optional={"acceptedSuggestions": st.lists(st.fixed_dictionaries({"id": texts}), max_size=3) | json_values,
              "overrideReason": st.fixed_dictionaries({}, optional={
                  "reason": st.fixed_dictionaries({"code": texts}, optional={"display": texts, "system": texts}),
                  "userComment": texts}) | json_values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(body=st.fixed_dictionaries({"feedback": st.lists(items | json_values, max_size=5)}) | json_values)
def test_generated_feedback_bodies_never_get_a_5xx(client, body):
    response = client.post(FEEDBACK_URL, json=body)
    assert response.status_code < 500, response.get_json()
    assert response.is_json


def test_many_writers_store_every_item_exactly_once(app):
    batch = [override(f"card-{i}", f"2026-11-22T15:{i % 60:02d}:00Z") for i in range(60)]
    errors: list = []

    def writer(offset: int) -> None:
        client = app.test_client()
        for j in range(len(batch)):
            item = batch[(j + offset) % len(batch)]  # every writer posts every item, in another order
            response = client.post(FEEDBACK_URL, json={"feedback": [copy.deepcopy(item)]})
            if response.status_code != 200:
                errors.append(response.status_code)

    threads = [threading.Thread(target=writer, args=(k * 7,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r["card_uuid"] for r in stored(app)) == sorted(i["card"] for i in batch)


def test_an_epic_reason_category_beyond_an_integer_is_no_code(app, client):
    raw = ('{"feedback": [{"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:01:00Z", '
           '"overrideReasons": {"extension": {"com.epic.cdshooks.feedback.overrideReason.reasonCategory": 1e999, '
           '"com.epic.cdshooks.feedback.overrideReason.reasonDisplay": "Does not meet criteria"}}}]}')
    response = client.post(FEEDBACK_URL, data=raw, content_type="application/json")
    assert response.status_code == 200
    row = stored(app)[0]
    assert (row["override_code"], row["override_display"]) == (None, "Does not meet criteria")


def test_the_schemas_lengths_are_the_stores_columns():
    """The feedback schema says what the store holds; the two must not drift apart."""
    import json

    from cds_service.store import feedback

    schema = json.loads((FEEDBACK_SCHEMA).read_text(encoding="utf-8"))["properties"]["feedback"]["items"]["properties"]
    assert schema["card"]["maxLength"] == feedback.c.card_uuid.type.length
    assert schema["overrideReason"]["properties"]["reason"]["properties"]["code"]["maxLength"] == \
        feedback.c.override_code.type.length
