"""`cds-service serve` as an integrator starts it: gunicorn with two workers on PostgreSQL, JSON logs on standard
error, and one /metrics that adds up what every worker counted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import SERVICE_FOR_HOOK, free_port, load_json, metric_value

FIRES = "requests/naloxone-coprescribe/fires-history-of-opioid-use-disorder.order-sign.r4.json"


@pytest.fixture
def server(postgres_url, tmp_path):
    port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CDS_") and k != "PROMETHEUS_MULTIPROC_DIR"},
           "CDS_DATABASE_URL": postgres_url, "CDS_AUTH_MODE": "development", "CDS_LOG_FORMAT": "json",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    os.mkdir(tmp_path / "metrics")
    log = open(tmp_path / "server.log", "w+", encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port), "--workers", "2",
                                "--threads", "2"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.seek(0)
            pytest.fail(f"the server did not become ready:\n{log.read()}")
        time.sleep(0.2)
    yield base, log
    process.terminate()
    process.wait(timeout=30)
    log.close()


def metric(base: str, name: str, **labels) -> float:
    return metric_value(requests.get(f"{base}/metrics", timeout=5).text, name, **labels)


def test_two_workers_serve_and_metrics_add_up(server):
    base, log = server
    body = load_json(FIRES)
    url = f"{base}/cds-services/{SERVICE_FOR_HOOK['order-sign']}"

    def call(_):
        with requests.Session() as session:  # a new connection each time, so both workers take calls
            return session.post(url, json=body, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(call, range(40)))
    assert [r.status_code for r in responses] == [200] * 40
    assert all(any(c["source"]["topic"]["code"] == "naloxone-coprescribe" for c in r.json()["cards"]) for r in responses)
    service = SERVICE_FOR_HOOK["order-sign"]
    # Whichever worker answers the scrape, it reports every worker's counts.
    for _ in range(4):
        assert metric(base, "cds_requests_total", service=service, status="200") == 40
        assert metric(base, "cds_cards_total", rule="naloxone-coprescribe") == 40
        assert metric(base, "cds_request_duration_seconds_count", service=service) == 40
    card = responses[0].json()["cards"][0]
    feedback = requests.post(f"{url}/feedback", timeout=10, json={"feedback": [
        {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:01:00Z"}]})
    assert feedback.json() == {"stored": 1, "duplicates": 0}

    log.flush()
    log.seek(0)
    lines = [line for line in log.read().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line the server wrote is JSON, gunicorn's own included
    calls = [e for e in entries if e.get("event") == "hook"]
    assert len(calls) == 40 and {c["status"] for c in calls} == {200}
    assert all(c["hookInstance"] == body["hookInstance"] and "naloxone-coprescribe" in c["rules"] for c in calls)
    assert any(e["logger"].startswith("gunicorn") for e in entries)
    assert body["context"]["patientId"] not in "\n".join(lines)
