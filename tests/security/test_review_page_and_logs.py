"""The review page and the logs, tried as an attacker would: guessing the admin password, framing or sniffing
the page, reading it from another origin, and writing large or multi-line text into the service's logs."""
from __future__ import annotations

import base64
import json
import logging

from cds_service import create_app
from cds_service.observability import JsonFormatter, TextFormatter
from conftest import SERVICE_FOR_HOOK, load_json

FIRES = "requests/high-mme/fires-90-mme-with-breakthrough-oxycodone.order-sign.r4.json"
SIGN = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}"


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_failed_logins_are_throttled_and_the_right_password_waits_too(config):
    client = create_app({**config, "ADMIN_PASSWORD": "governance-pw"}).test_client()
    assert client.get("/").status_code == 401  # a browser's first, credential-less request costs nothing
    for attempt in range(10):
        assert client.get("/", headers=basic("admin", f"guess-{attempt}")).status_code == 401
    locked = client.get("/", headers=basic("admin", "governance-pw"))
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert locked.get_json()["error"] == "too_many_requests"
    other = client.get("/", headers=basic("admin", "governance-pw"), environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 200  # another address is not locked out


def test_the_review_page_cannot_be_framed_sniffed_or_leak_its_address(config):
    client = create_app(config).test_client()  # development mode: open without a password
    page = client.get("/")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_only_the_cds_routes_answer_other_origins(client):
    origin = {"Origin": "https://attacker.example.net"}
    for path in ("/", "/metrics", "/healthz", "/readyz"):
        response = client.get(path, headers=origin)
        assert "Access-Control-Allow-Origin" not in response.headers, path
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert client.options(path, headers={**origin, "Access-Control-Request-Method": "GET"}) \
            .headers.get("Access-Control-Allow-Origin") is None
    assert client.get("/cds-services", headers=origin).headers["Access-Control-Allow-Origin"] == "*"
    assert client.options(SIGN, headers=origin).status_code == 204


def _call_lines(caplog, formatter) -> list[str]:
    return [formatter.format(r) for r in caplog.records if r.name == "cds_service.calls"]


def test_client_strings_reach_the_logs_bounded_and_on_one_line(client, caplog):
    body = load_json(FIRES)
    hostile = {**body, "hookInstance": "x\n{\"level\":\"ERROR\",\"message\":\"forged\"}" + "A" * 200}
    huge_hook = {**body, "hook": "order-sign" + "B" * 4_000_000}
    with caplog.at_level(logging.INFO):
        assert client.post(SIGN, json=hostile).status_code == 200  # still answered: the id is only not logged
        assert client.post(SIGN, json=huge_hook).status_code == 400
        assert client.post(SIGN, json=body).status_code == 200
    for formatter in (JsonFormatter(), TextFormatter()):
        lines = _call_lines(caplog, formatter)
        assert len(lines) == 3
        assert all("\n" not in line and len(line) < 2000 for line in lines)
        assert "forged" not in "".join(lines) and "BBBB" not in "".join(lines)
    logged = [json.loads(line) for line in _call_lines(caplog, JsonFormatter())]
    assert [e["hookInstance"] for e in logged] == ["(invalid)", body["hookInstance"], body["hookInstance"]]
    assert logged[1]["status"] == 400 and "hook" not in logged[1]


def test_any_log_record_is_bounded_whatever_code_logged_it(caplog):
    record = logging.LogRecord("cds_service.x", logging.WARNING, __file__, 1, "value %s", ("Z" * 1_000_000,), None)
    record.rules = ["r"] * 10_000
    record.missing = "M" * 1_000_000
    for formatter in (JsonFormatter(), TextFormatter()):
        line = formatter.format(record)
        assert len(line) < 12_000 and "\n" not in line


def test_medication_names_are_counted_not_logged(client, caplog):
    body = load_json(FIRES)
    body["prefetch"]["medicationRequests"]["entry"].append({"resource": {
        "resourceType": "MedicationRequest", "id": "unknown-1", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{body['context']['patientId']}"},
        "medicationCodeableConcept": {"text": "Zorbliquine 40 mg tablet"}}})
    with caplog.at_level(logging.INFO):
        assert client.post(SIGN, json=body).status_code == 200
    assert "Zorbliquine" not in caplog.text
    assert "could not be identified" in caplog.text
