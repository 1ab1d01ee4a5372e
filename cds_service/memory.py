"""What the prescriber already answered, so that a card is not shown again for nothing.

- A card overridden at ``order-select`` is not shown again at ``order-sign`` (or a repeated ``order-select``)
  for the same finding (same rule, same card text: drugs, doses, totals, partners) within
  ``SESSION_MEMORY_MINUTES``.
- An override reason that the card itself offers and marks with ``snooze_days`` (the CDC opioid CDS IG's
  acknowledgement reasons, "snooze 3 months") silences that rule for that patient for that many days. A
  critical card never snoozes.

Nothing here stores a patient identifier: only HMAC-SHA256 keys of (FHIR server, patient, rule, medications) under
``MEMORY_SECRET``, each with an expiry. Without a secret nothing is remembered. A store that does not answer
costs no card: every card is shown (fail open), and the failure is counted.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

log = logging.getLogger(__name__)


class Memory:
    def __init__(self, secret: str, store: Any, session_seconds: float):
        self._secret = secret.encode("utf-8")
        self.store = store
        self.session_seconds = session_seconds

    def _key(self, *parts: str) -> str:
        return hmac.new(self._secret, "\x1f".join(parts).encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def session_key(self, server: str, patient_id: str, rule_id: str, card_text: str) -> str:
        """The same finding for the same patient: the same draft, the same rule saying the same words (drug,
        dose, totals, partners, dates). A changed dose or drug under the same draft id is a new finding."""
        return self._key("session", server, patient_id, rule_id, card_text)

    def snooze_key(self, server: str, patient_id: str, rule_id: str) -> str:
        """The rule for the patient, whatever is ordered."""
        return self._key("snooze", server, patient_id, rule_id)

    def remember(self, items: list[dict], catalog: Any, now: float) -> None:
        """Feedback items as stored: each overridden card is silenced for the session, and its rule for the
        patient when the reason is one of the card's own snoozing reasons. A store that fails is counted."""
        answers = []
        for item in items:
            if item["outcome"] != "overridden":
                continue
            reason = (item.get("overrideReason") or {}).get("reason") or {}
            own = reason.get("system") in (None, catalog.common["override_reason_system"])
            answers.append((item["card"], reason.get("code") if own else None))
        if not answers:
            return

        def snooze_seconds(rule_id: str | None, code: str | None) -> float | None:
            days = catalog.snooze_days(rule_id, code)
            return days * 86400.0 if days else None

        try:
            self.store.silence(answers, snooze_seconds, self.session_seconds, now)
        except Exception as exc:  # noqa: BLE001  the override is lost, never the feedback
            from . import observability as obs

            obs.MEMORY_FAILURES.inc()
            log.warning("override not remembered: the store failed (%s)", type(exc).__name__)

    def silenced(self, keys: set[str], now: float) -> set[str]:
        """The keys among ``keys`` that an answer still silences; none if the store cannot say."""
        if not keys:
            return set()
        try:
            return self.store.live_suppressions(keys, now)
        except Exception as exc:  # noqa: BLE001  the cards are shown rather than lost
            from . import observability as obs

            obs.MEMORY_FAILURES.inc()
            log.warning("could not read what was already answered (%s): every card shown", type(exc).__name__)
            return set()
