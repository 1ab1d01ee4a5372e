"""Feedback, the record of cards shown and used token ids: SQLite by default, PostgreSQL when a URL is given.

Each card shown is recorded (card uuid, rule id, service, indicator, time; no patient data) so that feedback,
which names only the card uuid, can be tied to its rule, and so that governance can see how often each card
fires. A feedback item is stored once: the same service, card, outcome and outcome time posted again is the same
item. Token ids (``jti``) are kept until their token expires, so that a token replayed to another worker or
replica is refused too: in PostgreSQL, in an UNLOGGED table (``_unlogged``); with SQLite, in a file of their own
beside the database (``<name>.tokens.sqlite3``), whose write lock no card record holds.

Times are stored as UTC ISO 8601 text: sortable, and grouped by day with ``substr`` on either database.
SQLAlchemy Core (no ORM) keeps one code path for both databases; insert-or-ignore uses each dialect's
``ON CONFLICT DO NOTHING``.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, NamedTuple

from sqlalchemy import (Column, Float, Integer, MetaData, String, Table, Text, UniqueConstraint, bindparam,
                        create_engine, delete, event, func, select, text)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from .config import ConfigError

log = logging.getLogger(__name__)
MAX_PENDING_CALLS = 10_000  # hook calls' worth of card records waiting for the database, per process
BATCH_SECONDS = 1.0  # how long the writer gathers card records before one commit


class _Call(NamedTuple):
    """One hook call's records, queued for the writer thread."""

    cards: list[dict]
    memory: list[dict]
    day_service: tuple[str, str]


class _Now:
    """Queued by flush (write what you hold now) and close (then stop)."""

    def __init__(self, stop: bool = False):
        self.stop = stop

metadata = MetaData()

cards_shown = Table(
    "cards_shown", metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("rule_id", String(100), nullable=False, index=True),
    Column("service_id", String(200), nullable=False),
    Column("indicator", String(16), nullable=False),
    Column("shown_at", String(40), nullable=False, index=True),
)

feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(200), nullable=False),
    Column("card_uuid", String(64), nullable=False, index=True),
    Column("rule_id", String(100)),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", String(40), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),
    Column("override_code", String(200)),
    Column("override_system", Text),
    Column("override_display", Text),
    Column("user_comment", Text),
    Column("received_at", String(40), nullable=False),
    UniqueConstraint("service_id", "card_uuid", "outcome", "outcome_timestamp", name="feedback_once"),
)

# Per card shown (and per finding folded into it): the keyed hashes (cds_service.memory) that an override of
# the card silences; a snooze key only where the card's own rule may be snoozed. No patient identifier.
card_memory = Table(
    "card_memory", metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("session_key", String(64), primary_key=True),
    Column("snooze_key", String(64)),
    Column("shown_at", String(40), nullable=False, index=True),
)
# A keyed hash that an answer silences, until when (epoch seconds).
suppressions = Table(
    "suppressions", metadata,
    Column("key", String(64), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)
# Hook calls answered per day and service: the denominator of "cards per 100 hook calls".
hook_calls = Table(
    "hook_calls", metadata,
    Column("day", String(10), primary_key=True),
    Column("service_id", String(200), primary_key=True),
    Column("calls", Integer, nullable=False),
)

jti_seen = Table(
    "jti_seen", metadata,
    Column("token_key", String(600), primary_key=True),
    Column("expires_at", Float, nullable=False, index=True),
)


def database_url(setting_url: str, sqlite_path: str) -> str:
    """The SQLAlchemy URL: ``DATABASE_URL`` when given, else the SQLite file."""
    return setting_url or f"sqlite:///{sqlite_path}"


def safe_url(url: str) -> str:
    """The URL with its password masked, for logs and ``cds-service config``."""
    return make_url(url).render_as_string(hide_password=True)


def _utc(now: datetime | None) -> str:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


class FeedbackWrite(NamedTuple):
    stored: int
    duplicates: int
    stored_outcomes: Counter


class Store:
    def __init__(self, url: str):
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ConfigError("CDS_DATABASE_URL: not a database URL (postgresql+psycopg://user@host/db or "
                              "sqlite:///path)") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self._insert = sqlite.insert
        elif self.dialect == "postgresql":
            # Bounded waits: an unreachable database must cost a hook call seconds, not the OS's TCP timeout.
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5, pool_timeout=5,
                                        connect_args={"connect_timeout": 3})
            self._insert = postgresql.insert
        else:
            raise ConfigError(f"CDS_DATABASE_URL: unsupported database '{self.dialect}' "
                              "(use postgresql+psycopg:// or sqlite://)")
        self.tokens = self.engine  # where token ids are claimed (use_jti)
        if self.dialect == "sqlite" and parsed.database and parsed.database != ":memory:":
            # Token ids in a file of their own: SQLite has one write lock per file, and the replay check of a
            # call must not wait behind the card recorder's batch commit (a waiting writer sleeps 1, 2, 5, 10...
            # ms in SQLite's busy handler: that was the tail of calls with a JWT, BENCHMARKS.md).
            path = Path(parsed.database)
            self.tokens = create_engine(parsed.set(database=str(path.with_name(f"{path.stem}.tokens{path.suffix}"))),
                                        connect_args={"timeout": 30})
            event.listen(self.tokens, "connect", _sqlite_pragmas)
        # Idempotent; several replicas starting at once are safe (IF NOT EXISTS).
        metadata.create_all(self.engine, tables=[t for t in metadata.sorted_tables
                                                 if t is not jti_seen or self.tokens is self.engine])
        if self.tokens is not self.engine:
            jti_seen.create(self.tokens, checkfirst=True)
        if self.dialect == "postgresql":
            _unlogged(self.engine, jti_seen.name)
        self._jti_calls = 0
        # Built once (a statement built per call cost more than the commit). One statement: a new token id is
        # inserted, an expired one taken over; an unexpired one (a replay) returns no row.
        insert = self._insert(jti_seen).values(token_key=bindparam("key"), expires_at=bindparam("expires"))
        self._claim_jti = insert.on_conflict_do_update(
            index_elements=[jti_seen.c.token_key], set_={"expires_at": insert.excluded.expires_at},
            where=jti_seen.c.expires_at <= bindparam("now")).returning(jti_seen.c.token_key)
        self._pending: queue.Queue | None = None  # cards shown, waiting for the writer thread (record_cards)
        self._writer_pid: int | None = None
        self._writer_lock = threading.Lock()
        self._wake = threading.Event()  # set by flush and close: the writer commits what it holds now

    def after_fork(self) -> None:
        """Drop pooled connections inherited from the parent process (gunicorn forks after create_app)."""
        self.engine.dispose(close=False)
        if self.tokens is not self.engine:
            self.tokens.dispose(close=False)

    def record_cards(self, service_id: str, cards: Iterable[tuple[str, str, str]], now: datetime | None = None,
                     memory: Iterable[tuple[str, str, str | None]] = ()) -> None:
        """Record one hook call: (card uuid, rule id, indicator) for each card returned (indicator ``folded`` or
        ``suppressed`` for findings that were lines of another card or silenced by an earlier answer), and the
        (card uuid, session key, snooze key) an override of each card would silence.

        The rows are queued and a writer thread of this process commits them at most once a second, off the
        hook call's path: a commit per call cost more than all the rules, and workers queued behind one another
        on SQLite's write lock (BENCHMARKS.md). Reads in this process wait for what it queued
        (``flush``); shutdown flushes too. What a crashed process had queued (up to its last second of cards) is
        lost; feedback for such a card is still stored, without its rule. If the database stays unavailable
        the queue is bounded: cards beyond it are not recorded (logged) and the hook call still answers.
        """
        shown_at = _utc(now)
        rows = [{"card_uuid": uuid, "rule_id": rule, "service_id": service_id, "indicator": indicator,
                 "shown_at": shown_at} for uuid, rule, indicator in cards]
        keys = [{"card_uuid": uuid, "session_key": session, "snooze_key": snooze, "shown_at": shown_at}
                for uuid, session, snooze in memory]
        try:
            self._card_queue().put_nowait(_Call(rows, keys, (shown_at[:10], service_id)))
        except queue.Full:
            log.warning("card record queue full (is the database down?): %d cards shown not recorded", len(rows))

    def _card_queue(self) -> queue.Queue:
        """This process's queue and writer thread (started on first use: threads do not survive gunicorn's fork)."""
        if self._writer_pid != os.getpid():
            with self._writer_lock:
                if self._writer_pid != os.getpid():
                    self._pending = queue.Queue(maxsize=MAX_PENDING_CALLS)
                    self._wake = threading.Event()
                    threading.Thread(target=self._write_cards, args=(self._pending, self._wake),
                                     name="card-recorder", daemon=True).start()
                    self._writer_pid = os.getpid()
                    atexit.register(self.flush)
        return self._pending

    def _write_cards(self, pending: queue.Queue, wake: threading.Event) -> None:
        while True:
            calls = [pending.get()]  # the first call of a batch
            if not isinstance(calls[0], _Now):
                # One commit a second at most. Only flush and close cut the wait short: a hook call's put does
                # not wake this thread (a wake-up per call cost the worker two thread switches per call).
                wake.wait(BATCH_SECONDS)
            wake.clear()
            while len(calls) < 5000:
                try:
                    calls.append(pending.get_nowait())
                except queue.Empty:
                    break
            answered = [call for call in calls if isinstance(call, _Call)]
            rows = [row for call in answered for row in call.cards]
            keys = [row for call in answered for row in call.memory]
            counts = Counter(call.day_service for call in answered)
            try:
                if answered:
                    with self.engine.begin() as conn:
                        if rows:
                            conn.execute(self._insert(cards_shown).on_conflict_do_nothing(), rows)
                        if keys:
                            conn.execute(self._insert(card_memory).on_conflict_do_nothing(), keys)
                        for (day, service), n in sorted(counts.items()):
                            add = self._insert(hook_calls).values(day=day, service_id=service, calls=n)
                            conn.execute(add.on_conflict_do_update(
                                index_elements=[hook_calls.c.day, hook_calls.c.service_id],
                                set_={"calls": hook_calls.c.calls + add.excluded.calls}))
            except Exception as exc:  # noqa: BLE001  the database is unavailable: say so, keep serving
                log.warning("could not record %d cards shown (%s)", len(rows), type(exc).__name__)
            finally:
                for _ in calls:
                    pending.task_done()
            if any(isinstance(call, _Now) and call.stop for call in calls):  # close()
                return

    def close(self) -> None:
        """Write what this process queued, stop its writer and close the connections (worker exit, tests)."""
        if self._writer_pid == os.getpid() and self._pending is not None:
            self.flush()
            self._pending.put(_Now(stop=True))
            self._wake.set()
            self._writer_pid = None
        self.engine.dispose()
        if self.tokens is not self.engine:
            self.tokens.dispose()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until the cards this process queued are written; False if that took longer than ``timeout``."""
        pending = self._pending if self._writer_pid == os.getpid() else None
        deadline = time.monotonic() + timeout
        if pending is not None and pending.unfinished_tasks:
            try:
                pending.put(_Now(), timeout=timeout)  # the writer commits what it holds without waiting
            except queue.Full:
                return False
            self._wake.set()
        while pending is not None and pending.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def add_feedback(self, service_id: str, items: list[dict], now: datetime | None = None) -> FeedbackWrite:
        """Store feedback items already checked to fit the columns (``api.feedback``), in one transaction: one
        query for their rules and one multi-row insert. Returns how many were stored, how many were already
        present, and the outcomes stored (for the metrics)."""
        received_at = _utc(now)
        self.flush()  # the cards this process showed are recorded, so the item gets its rule
        unique = list({(i["card"], i["outcome"], i["outcomeTimestamp"]): i for i in items}.values())
        with self.engine.begin() as conn:
            cards = sorted({item["card"] for item in unique})
            rules = dict(conn.execute(select(cards_shown.c.card_uuid, cards_shown.c.rule_id)
                                      .where(cards_shown.c.card_uuid.in_(cards))).all()) if cards else {}
            rows = []
            for item in unique:
                override = item.get("overrideReason") or {}
                reason = override.get("reason") or {}
                rows.append({"service_id": service_id, "card_uuid": item["card"], "rule_id": rules.get(item["card"]),
                             "outcome": item["outcome"], "outcome_timestamp": item["outcomeTimestamp"],
                             "accepted_suggestions": json.dumps([s["id"] for s in item.get("acceptedSuggestions") or []]),
                             "override_code": reason.get("code"), "override_system": reason.get("system"),
                             "override_display": reason.get("display"), "user_comment": override.get("userComment"),
                             "received_at": received_at})
            stored = conn.execute(self._insert(feedback).on_conflict_do_nothing().returning(feedback.c.outcome),
                                  rows).scalars().all() if rows else []
        return FeedbackWrite(len(stored), len(items) - len(stored), Counter(stored))

    def feedback(self) -> list[dict]:
        self.flush()
        with self.engine.connect() as conn:
            rows = conn.execute(select(feedback).order_by(feedback.c.id)).mappings().all()
        return [{**row, "accepted_suggestions": json.loads(row["accepted_suggestions"])} for row in rows]

    def live_suppressions(self, keys: set[str], now: float) -> set[str]:
        """The keys among ``keys`` silenced until after ``now`` (one indexed read)."""
        with self.engine.connect() as conn:
            return set(conn.execute(select(suppressions.c.key).where(
                suppressions.c.key.in_(sorted(keys)), suppressions.c.expires_at > now)).scalars())

    def silence(self, answers: list[tuple[str, str | None]], snooze_seconds, session_seconds: float,
                now: float) -> int:
        """For each (card uuid, override reason code or None) overridden: silence the card's finding for the
        session, and its rule for the patient for ``snooze_seconds(rule id, code)`` (None: no snooze). Returns how
        many keys were silenced (0 for a card not found).

        Another worker records its cards up to a second after showing them: a card not found yet is looked for
        again for ``BATCH_SECONDS`` and a half, so that an override sent at once is not lost."""
        self.flush()  # the cards this process showed have their keys recorded
        codes = dict(answers)
        query = (select(card_memory.c.card_uuid, card_memory.c.session_key, card_memory.c.snooze_key,
                        cards_shown.c.rule_id)
                 .select_from(card_memory.outerjoin(cards_shown, cards_shown.c.card_uuid == card_memory.c.card_uuid))
                 .where(card_memory.c.card_uuid.in_(sorted(codes))))
        deadline = time.monotonic() + BATCH_SECONDS + 0.5
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(query).all() if codes else []
            if {r[0] for r in rows} >= set(codes) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        with self.engine.begin() as conn:
            until: dict[str, float] = {}
            for card, session, snooze_key, rule_id in rows:
                until[session] = max(until.get(session, 0), now + session_seconds)
                seconds = snooze_seconds(rule_id, codes.get(card)) if snooze_key else None
                if seconds:
                    until[snooze_key] = max(until.get(snooze_key, 0), now + seconds)
            for key, expires in sorted(until.items()):
                add = self._insert(suppressions).values(key=key, expires_at=expires)
                conn.execute(add.on_conflict_do_update(
                    index_elements=[suppressions.c.key],
                    set_={"expires_at": func.max(suppressions.c.expires_at, add.excluded.expires_at)
                          if self.dialect == "sqlite" else func.greatest(suppressions.c.expires_at,
                                                                         add.excluded.expires_at)}))
            if until:
                conn.execute(delete(suppressions).where(suppressions.c.expires_at <= now))
                # A card's keys serve only an answer that comes within its session (a day at least): then go.
                kept_from = _utc(datetime.fromtimestamp(now - max(session_seconds, 86400.0), timezone.utc))
                conn.execute(delete(card_memory).where(card_memory.c.shown_at < kept_from))
        return len(until)

    def hook_call_count(self) -> int:
        self.flush()
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.coalesce(func.sum(hook_calls.c.calls), 0))).scalar())

    def use_jti(self, key: str, expires_at: float, now: float) -> bool:
        """Record a token id; False when it was already used by an unexpired token (a replay)."""
        with self.tokens.begin() as conn:
            self._jti_calls += 1
            if self._jti_calls % 500 == 0:
                conn.execute(delete(jti_seen).where(jti_seen.c.expires_at <= now))
            return len(conn.execute(self._claim_jti, {"key": key, "expires": expires_at, "now": now}).all()) == 1

    def ping(self) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1

    def rule_summary(self, display_of=None) -> dict[str, dict]:
        """Per rule id: cards shown, feedback by outcome, override rate, top override reasons, shown per day.
        Feedback counts once per card, by the card's latest outcome (and that outcome's reason).

        The rule of a feedback item is the one recorded with it, else the card record's (feedback may in
        principle arrive before the card record of another replica is committed).
        """
        out: dict[str, dict] = defaultdict(lambda: {"shown": 0, "accepted": 0, "overridden": 0, "reasons": Counter(),
                                                     "per_day": Counter(), "overridden_per_day": Counter()})
        day = func.substr(cards_shown.c.shown_at, 1, 10)
        self.flush()
        with self.engine.connect() as conn:
            for rule_id, indicator, shown_day, count in conn.execute(
                    select(cards_shown.c.rule_id, cards_shown.c.indicator, day, func.count())
                    .group_by(cards_shown.c.rule_id, cards_shown.c.indicator, day)):
                if indicator in ("folded", "suppressed"):  # a line of another card; silenced by an answer
                    out[rule_id][indicator] = out[rule_id].get(indicator, 0) + count
                    continue
                out[rule_id]["shown"] += count
                out[rule_id]["per_day"][shown_day] += count
            # One card counts once, by its latest outcome: an EHR that sends the same override again (another
            # time stamp, another replica) must not inflate the figures the committee reads.
            rule = func.coalesce(feedback.c.rule_id, cards_shown.c.rule_id)
            joined = feedback.outerjoin(cards_shown, cards_shown.c.card_uuid == feedback.c.card_uuid)
            query = (select(feedback.c.card_uuid, rule, feedback.c.outcome, feedback.c.override_display,
                            feedback.c.override_code, func.substr(feedback.c.outcome_timestamp, 1, 10))
                     .select_from(joined).where(rule.is_not(None))
                     .order_by(feedback.c.outcome_timestamp, feedback.c.id))
            latest = {card: rest for card, *rest in conn.execute(query)}
        by_code: dict[str, Counter] = defaultdict(Counter)  # per rule: reason code -> cards
        names: dict[tuple[str, str], str] = {}  # (rule, code) -> the display a clinician read
        for rule_id, outcome, display, code, when in latest.values():
            entry = out[rule_id]
            if outcome == "accepted":
                entry["accepted"] += 1
            elif outcome == "overridden":
                entry["overridden"] += 1
                entry["overridden_per_day"][when] += 1
                if display or code:
                    by_code[rule_id][code or display] += 1
                    names[(rule_id, code or display)] = display or code
        for rule_id, counts in by_code.items():  # grouped by code (one reason, however its display was spelt)
            for code, count in counts.items():  # in the words the rule's own card offered, where it did
                name = (display_of(rule_id, code) if display_of else None) or names[(rule_id, code)]
                out[rule_id]["reasons"][name] += count
        for entry in out.values():
            answered = entry["accepted"] + entry["overridden"]
            entry["override_rate"] = entry["overridden"] / answered if answered else None
        return dict(out)


def _unlogged(engine: Engine, table: str) -> None:
    """PostgreSQL keeps token ids in an UNLOGGED table: no write-ahead log, so the replay check's commit waits for
    no disk flush (median 0.9 -> 0.55 ms, p99 8 -> 1.4 ms on the benchmark machine). The price: a crash of the
    database server empties the table, and a standby has no copy of it, so a token used in the minutes before
    a crash or failover could be replayed until it expires (exp + leeway). A table that cannot be altered (not
    its owner) stays logged, which is as safe and slower."""
    try:
        with engine.begin() as conn:
            persistence = conn.execute(text("SELECT relpersistence FROM pg_class WHERE relname = :name AND "
                                            "relkind = 'r' AND pg_table_is_visible(oid)"), {"name": table}).scalar()
            if persistence == "p":
                conn.execute(text(f"ALTER TABLE {table} SET UNLOGGED"))
    except SQLAlchemyError as exc:
        log.warning("%s stays a logged table (%s): each replay check waits for a disk flush", table,
                    type(exc).__name__)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer across workers
    # Safe with WAL (no corruption); a power cut may lose the last commits, not the database. Halves a commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
