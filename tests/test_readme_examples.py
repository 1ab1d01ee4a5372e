"""The README's examples work as written: its request files exist and give the cards it promises on any day,
and the test client's tokens (scripts/test_jwt.py) are accepted only for the URL they name, once."""
from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from cds_service import create_app
from conftest import ROOT, load_json, rule_ids

README = (ROOT / "README.md").read_text(encoding="utf-8")
BASE = "http://127.0.0.1:8080"


def test_every_fixture_the_readme_names_exists():
    named = set(re.findall(r"fhir_fixtures/[\w./-]+\.json", README))
    assert named, "the README's demo names no request file"
    assert [p for p in sorted(named) if not (ROOT / p).is_file()] == []


@pytest.mark.parametrize("day", ["2026-11-22", "2027-07-04", "2031-02-28"])
def test_the_readme_demo_requests_give_their_cards_on_any_day(config, day):
    clock = datetime.fromisoformat(day).replace(hour=15, tzinfo=timezone.utc)
    client = create_app({**config, "CLOCK": lambda: clock}).test_client()
    for path, rule in [("fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json",
                        "fentanyl-patch-opioid-naive"),
                       ("naltrexone-opioid/fires-ldn-draft-with-current-oxycodone.order-sign.r4.json",
                        "naltrexone-opioid")]:
        assert f"fhir_fixtures/requests/{path}" in README
        response = client.post("/cds-services/pain-medication-safety-order-sign", json=load_json(f"requests/{path}"))
        assert rule in rule_ids(response), (path, day)


def _script(*args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "test_jwt.py"), *args],
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_test_client_tokens_are_accepted_for_their_url_once(config, tmp_path):
    keys = tmp_path / "issuer"
    _script("keys", str(keys))
    client = create_app({**config, "AUTH_MODE": "required", "PUBLIC_BASE_URL": BASE,
                         "TRUSTED_ISSUERS": {"https://test-issuer.example": {"jwks_file": str(keys / "jwks.json")}},
                         }).test_client()
    token = _script("token", f"{BASE}/cds-services", str(keys))
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401  # replay
    other = _script("token", f"{BASE}/cds-services", str(keys))
    hook = client.post("/cds-services/pain-medication-safety-order-sign", headers={"Authorization": f"Bearer {other}"},
                       json=load_json("requests/naltrexone-opioid/fires-ldn-draft-with-current-oxycodone.order-sign.r4.json"))
    assert hook.status_code == 401  # minted for discovery, not for this service
    assert not (keys / "private.pem").stat().st_mode & 0o077  # the private key is the owner's alone


def test_test_client_without_keys_says_what_to_run(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "test_jwt.py"), "token", BASE, str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "scripts/test_jwt.py keys" in done.stderr


def test_readme_feedback_example_is_accepted(client):
    """The README's feedback body, with the uuid of the card the demo request gets."""
    body = load_json("requests/fentanyl-patch-opioid-naive/fires-no-opioid-history.order-sign.r4.json")
    card = client.post("/cds-services/pain-medication-safety-order-sign", json=body).get_json()["cards"][0]
    example = re.search(r"--data '(\{\"feedback\".*?\})' \\", README, re.S)
    assert example, "the README's feedback example is missing"
    sent = example.group(1).replace("'\"$CARD\"'", card["uuid"])
    answer = client.post("/cds-services/pain-medication-safety-order-sign/feedback", data=sent,
                         content_type="application/json")
    assert answer.status_code == 200, answer.get_json()
