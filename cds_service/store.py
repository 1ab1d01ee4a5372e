"""Feedback and the record of cards shown, in SQLite (the embedded default).

Each card shown is recorded (card uuid, rule id, service, time; no patient data) so that feedback, which
names only the card uuid, can be tied to its rule. A feedback item is stored once: the same service, card,
outcome and outcome time posted again is recognised as the same item.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards_shown (
    card_uuid TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    service_id TEXT NOT NULL,
    indicator TEXT NOT NULL,
    shown_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id TEXT NOT NULL,
    card_uuid TEXT NOT NULL,
    rule_id TEXT,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT NOT NULL,
    override_code TEXT,
    override_system TEXT,
    override_display TEXT,
    user_comment TEXT,
    received_at TEXT NOT NULL,
    UNIQUE (service_id, card_uuid, outcome, outcome_timestamp)
);
"""


class Store:
    def __init__(self, path: str | Path):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        conn.row_factory = sqlite3.Row
        return conn

    def record_cards(self, service_id: str, cards: Iterable[tuple[str, str, str]]) -> None:
        """Record (card uuid, rule id, indicator) for each card returned."""
        now = datetime.now(timezone.utc).isoformat()
        rows = [(uuid, rule, service_id, indicator, now) for uuid, rule, indicator in cards]
        if not rows:
            return
        with closing(self._connect()) as conn, conn:
            conn.executemany("INSERT OR IGNORE INTO cards_shown VALUES (?, ?, ?, ?, ?)", rows)

    def add_feedback(self, service_id: str, items: list[dict]) -> tuple[int, int]:
        """Store feedback items; returns (stored, already present)."""
        now = datetime.now(timezone.utc).isoformat()
        stored = 0
        with closing(self._connect()) as conn, conn:
            for item in items:
                reason = (item.get("overrideReason") or {}).get("reason") or {}
                rule = conn.execute("SELECT rule_id FROM cards_shown WHERE card_uuid = ?", (item["card"],)).fetchone()
                cur = conn.execute(
                    "INSERT OR IGNORE INTO feedback (service_id, card_uuid, rule_id, outcome, outcome_timestamp,"
                    " accepted_suggestions, override_code, override_system, override_display, user_comment,"
                    " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (service_id, item["card"], rule["rule_id"] if rule else None, item["outcome"],
                     item["outcomeTimestamp"],
                     json.dumps([s["id"] for s in item.get("acceptedSuggestions") or []]),
                     reason.get("code"), reason.get("system"), reason.get("display"),
                     (item.get("overrideReason") or {}).get("userComment"), now))
                stored += cur.rowcount
        return stored, len(items) - stored

    def feedback(self) -> list[dict]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT * FROM feedback ORDER BY id").fetchall()
        out = []
        for row in rows:
            item = dict(row)
            item["accepted_suggestions"] = json.loads(item["accepted_suggestions"])
            out.append(item)
        return out

    def ping(self) -> bool:
        with closing(self._connect()) as conn:
            return conn.execute("SELECT 1").fetchone()[0] == 1
