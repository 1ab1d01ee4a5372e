"""Shared pytest fixtures: the app (Flask tutorial style), a client, and the fixture files."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from cds_service import create_app

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fhir_fixtures"
# Every fixture is dated relative to this day (authoredOn, dispenses, statements).
FIXTURE_NOW = datetime(2026, 11, 22, 15, 0, tzinfo=timezone.utc)
SANDBOX_FHIR = "https://launch.smarthealthit.org/"
SERVICE_FOR_HOOK = {
    "order-select": "pain-medication-safety-order-select",
    "order-sign": "pain-medication-safety-order-sign",
    "medication-prescribe": "pain-medication-safety-medication-prescribe",
}


def load_json(relative: str) -> dict:
    return json.loads((FIXTURES / relative).read_text(encoding="utf-8"))


@pytest.fixture
def config(tmp_path) -> dict:
    return {
        "DATABASE": str(tmp_path / "cds.sqlite3"),
        "CLOCK": lambda: FIXTURE_NOW,
        "FHIR_SERVER_ALLOWLIST": [SANDBOX_FHIR],
        "AUTH_MODE": "development",  # JWT authentication has its own tests (test_auth.py)
    }


@pytest.fixture
def app(config):
    return create_app(config)


@pytest.fixture
def client(app):
    return app.test_client()


def post_hook(client, body: dict, service: str | None = None):
    return client.post(f"/cds-services/{service or SERVICE_FOR_HOOK[body['hook']]}", json=body)


def rule_ids(response) -> list[str]:
    assert response.status_code == 200, response.get_json()
    return [card["source"]["topic"]["code"] for card in response.get_json()["cards"]]
