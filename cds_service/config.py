"""Settings: defaults, then a mapping given to create_app, then environment variables ``CDS_<NAME>``.

Environment values are parsed by the type of the default: lists are comma-separated, mappings are JSON,
numbers and booleans as written. Unknown ``CDS_`` variables are ignored.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parents[1]

DEFAULTS: dict[str, Any] = {
    # Feedback and card records; a relative path is under the Flask instance folder.
    "DATABASE": "cds-service.sqlite3",
    # FHIR servers the service may call with the client's token (base URLs: scheme, host, port, path prefix).
    "FHIR_SERVER_ALLOWLIST": [],
    "FHIR_CONNECT_TIMEOUT": 3.0,
    "FHIR_READ_TIMEOUT": 10.0,
    "FHIR_MAX_PAGES": 10,
    "FHIR_MAX_BYTES": 10 * 1024 * 1024,
    # Origins allowed to call from a browser ("*" for any; CDS Hooks uses no cookies).
    "CORS_ALLOWED_ORIGINS": ["*"],
    # At most this many cards per response; info cards are dropped first, critical ones never.
    "MAX_CARDS": 10,
    # Rule ids switched off; indicator per rule id; parameter overrides per rule id (see rules/params.json).
    "RULES_DISABLED": [],
    "RULE_INDICATORS": {},
    "RULE_PARAMS": {},
    # Additions to the condition code lists (knowledge/data/code_lists.json), e.g. {"cancer": {"text": ["glioma"]}}.
    "CODE_LISTS_EXTRA": {},
    "CARDS_DIR": str(ROOT / "cards"),
    # "required": every call must carry a JWT from a trusted issuer; "development": unsigned calls accepted (warned).
    "AUTH_MODE": "required",
    # {iss: {"jwks": {...}} | {"jwks_file": path} | {"jwks_url": url}, "jku_allowlist": [url, ...]}
    "TRUSTED_ISSUERS": {},
    # The public URL of this service (behind a proxy); the JWT "aud" must be it plus the path called.
    "PUBLIC_BASE_URL": "",
    "JWT_LEEWAY_SECONDS": 60,
    "JWKS_MIN_REFRESH_SECONDS": 300,
    # One hook call's total budget for fetching from the FHIR server (seconds).
    "FHIR_DEADLINE": 8.0,
    # Largest request body accepted (bytes); larger ones get 413.
    "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
}


def _parse(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, list):
        return [part.strip() for part in raw.split(",") if part.strip()]
    if isinstance(default, dict):
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value
    return raw


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Defaults, then ``overrides``, then ``CDS_*`` environment variables; a bad value stops the start."""
    settings = dict(DEFAULTS)
    settings.update(overrides or {})
    env = os.environ if environ is None else environ
    for name, default in DEFAULTS.items():
        raw = env.get(f"CDS_{name}")
        if raw is None:
            continue
        try:
            settings[name] = _parse(raw, default)
        except ValueError as exc:
            raise ValueError(f"CDS_{name}: {exc}") from None
    return settings
