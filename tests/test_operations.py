"""Running it like a hospital: settings (TOML, environment, validation, masking, reference page), metrics,
JSON log lines, health probes and the review page's access rules."""
from __future__ import annotations

import base64
import json
import logging

import pytest
import responses

from cds_service import create_app
from cds_service.cli import main
from cds_service.config import ConfigError, load_settings, reference
from cds_service.observability import JsonFormatter
from conftest import ROOT, SERVICE_FOR_HOOK, load_json, metric_value, post_hook, rule_ids

FIRES = "requests/naloxone-coprescribe/fires-history-of-opioid-use-disorder.order-sign.r4.json"
SIGN = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}"


# --- settings -----------------------------------------------------------------------------------------------------

def write_toml(tmp_path, text: str) -> str:
    path = tmp_path / "cds-service.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_toml_file_gives_settings_and_the_environment_wins(tmp_path):
    path = write_toml(tmp_path, """
max_cards = 3
fhir_server_allowlist = ["https://fhir.hospital.example/r4/"]
rules_disabled = ["opioid-bowel-regimen"]
fhir_deadline = 4

[trusted_issuers."https://ehr.hospital.example"]
jwks_url = "https://ehr.hospital.example/jwks.json"
""")
    settings = load_settings(environ={"CDS_CONFIG_FILE": path})
    assert settings["MAX_CARDS"] == 3 and settings["FHIR_DEADLINE"] == 4.0
    assert settings["FHIR_SERVER_ALLOWLIST"] == ["https://fhir.hospital.example/r4/"]
    assert settings["TRUSTED_ISSUERS"] == {"https://ehr.hospital.example": {"jwks_url": "https://ehr.hospital.example/jwks.json"}}
    assert load_settings(environ={"CDS_CONFIG_FILE": path, "CDS_MAX_CARDS": "5"})["MAX_CARDS"] == 5


def test_a_toml_file_switches_a_rule_off_in_the_service(tmp_path, config):
    path = write_toml(tmp_path, 'rules_disabled = ["naloxone-coprescribe"]\n')
    client = create_app({**config, "CONFIG_FILE": path}).test_client()
    assert "naloxone-coprescribe" not in rule_ids(post_hook(client, load_json(FIRES)))
    assert "naloxone-coprescribe" in rule_ids(post_hook(create_app(config).test_client(), load_json(FIRES)))


@pytest.mark.parametrize("toml, message", [
    ("max_cardz = 3\n", "unknown setting 'max_cardz'"),
    ('workers = "four"\n', "CDS_WORKERS: expected integer"),
    ('auth_mode = "optional"\n', "CDS_AUTH_MODE: must be one of required, development"),
    ("fhir_deadline = 0\n", "CDS_FHIR_DEADLINE: must be at least 0.01"),
    ('fhir_server_allowlist = "https://fhir.example/"\n', "CDS_FHIR_SERVER_ALLOWLIST: expected list of text"),
    ("max_cards = \n", "not valid TOML"),
])
def test_an_invalid_toml_setting_is_named(tmp_path, toml, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={"CDS_CONFIG_FILE": write_toml(tmp_path, toml)})


@pytest.mark.parametrize("name, value, message", [
    ("CDS_WORKERS", "many", "CDS_WORKERS: expected integer"),
    ("CDS_METRICS_ENABLED", "perhaps", "CDS_METRICS_ENABLED: expected boolean"),
    ("CDS_RULE_PARAMS", "{not json", "CDS_RULE_PARAMS: expected mapping"),
    ("CDS_LOG_FORMAT", "xml", "CDS_LOG_FORMAT: must be one of json, text"),
    ("CDS_PORT", "0", "CDS_PORT: must be at least 1"),
])
def test_an_invalid_environment_setting_is_named(name, value, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ={name: value})


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="cannot read .*absent.toml"):
        load_settings(environ={"CDS_CONFIG_FILE": str(tmp_path / "absent.toml")})


def test_serve_stops_on_an_invalid_setting_before_starting(monkeypatch, capsys):
    monkeypatch.setenv("CDS_THREADS", "lots")
    assert main(["serve"]) == 2
    assert "configuration error: CDS_THREADS: expected integer" in capsys.readouterr().err


def test_config_command_prints_effective_values_with_secrets_masked(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CDS_DATABASE_URL", "postgresql+psycopg://cds:s3cret-pw@db.internal:5432/cds")
    monkeypatch.setenv("CDS_ADMIN_PASSWORD", "hunter2-governance")
    monkeypatch.setenv("CDS_CONFIG_FILE", "")  # --config sets it for the process; restored after the test
    assert main(["--config", write_toml(tmp_path, "max_cards = 4\n"), "config"]) == 0
    out = capsys.readouterr().out
    printed = json.loads(out)
    assert printed["MAX_CARDS"] == 4
    assert printed["DATABASE_URL"] == "postgresql+psycopg://cds:***@db.internal:5432/cds"
    assert printed["ADMIN_PASSWORD"] == "***"
    assert "s3cret-pw" not in out and "hunter2" not in out


def test_every_setting_is_documented_and_the_page_is_current():
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert page == reference(), "run: cds-service config --docs > docs/configuration.md"
    from cds_service.config import SETTINGS

    for setting in SETTINGS:
        assert f"`CDS_{setting.name}`" in page


# --- metrics ------------------------------------------------------------------------------------------------------

def sample(client, name: str, **labels) -> float:
    return metric_value(client.get("/metrics").get_data(as_text=True), name, **labels)


def test_metrics_count_calls_cards_and_feedback(client):
    service = SERVICE_FOR_HOOK["order-sign"]
    before = {"ok": sample(client, "cds_requests_total", service=service, status="200"),
              "bad": sample(client, "cds_requests_total", service=service, status="400"),
              "unknown": sample(client, "cds_requests_total", service="unknown", status="404"),
              "card": sample(client, "cds_cards_total", rule="naloxone-coprescribe", indicator="warning"),
              "latency": sample(client, "cds_request_duration_seconds_count", service=service),
              "overridden": sample(client, "cds_feedback_total", outcome="overridden")}
    cards = post_hook(client, load_json(FIRES)).get_json()["cards"]
    assert client.post(SIGN, json={"hook": "order-sign"}).status_code == 400
    assert client.post("/cds-services/made-up-service", json={}).status_code == 404
    client.post(f"{SIGN}/feedback", json={"feedback": [
        {"card": cards[0]["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-11-22T15:01:00Z"}]})
    assert sample(client, "cds_requests_total", service=service, status="200") == before["ok"] + 2  # hook, feedback
    assert sample(client, "cds_requests_total", service=service, status="400") == before["bad"] + 1
    assert sample(client, "cds_requests_total", service="unknown", status="404") == before["unknown"] + 1
    assert sample(client, "cds_cards_total", rule="naloxone-coprescribe", indicator="warning") == before["card"] + 1
    assert sample(client, "cds_request_duration_seconds_count", service=service) == before["latency"] + 3
    assert sample(client, "cds_feedback_total", outcome="overridden") == before["overridden"] + 1


def test_metrics_count_fhir_failures_and_unrecognised_medications(client):
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    r4 = "https://launch.smarthealthit.org/v/r4/fhir"
    empty = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    herbal = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "MedicationRequest", "id": "herbal-1", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/smart-7321938"}, "authoredOn": "2026-11-01",
        "medicationCodeableConcept": {"text": "Valerian root herbal tea"}}}]}
    before = (sample(client, "cds_fhir_fetch_failures_total", key="conditions"),
              sample(client, "cds_unrecognised_medications_total"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{r4}/MedicationRequest", json=herbal)
        mock.get(f"{r4}/Condition", status=500, json={"resourceType": "OperationOutcome"})
        for kind in ("MedicationStatement", "MedicationDispense", "Observation", "Procedure", "ServiceRequest", "Encounter"):
            mock.get(f"{r4}/{kind}", json=empty)
        mock.get(f"{r4}/Patient/smart-7321938", json={"resourceType": "Patient", "id": "smart-7321938"})
        assert post_hook(client, body).status_code == 200
    assert sample(client, "cds_fhir_fetch_failures_total", key="conditions") == before[0] + 1
    assert sample(client, "cds_unrecognised_medications_total") == before[1] + 1


def test_metrics_can_be_switched_off(config):
    client = create_app({**config, "METRICS_ENABLED": False}).test_client()
    assert client.get("/metrics").status_code == 404


# --- logs ---------------------------------------------------------------------------------------------------------

def test_one_json_log_line_per_call_with_no_token_or_patient_data(client, caplog):
    body = load_json(FIRES)
    body["fhirAuthorization"] = {"access_token": "secret-access-token-123", "token_type": "Bearer",
                                 "expires_in": 300, "scope": "patient/*.read", "subject": "cds-service"}
    body["fhirServer"] = "https://launch.smarthealthit.org/v/r4/fhir"
    with caplog.at_level(logging.INFO):
        cards = post_hook(client, body).get_json()["cards"]
        client.post(SIGN, json={**body, "hook": "order-select"})  # a 400
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    calls = [json.loads(line) for line in lines if json.loads(line)["logger"] == "cds_service.calls"]
    ok, bad = calls
    assert ok["event"] == "hook" and ok["service"] == SERVICE_FOR_HOOK["order-sign"] and ok["status"] == 200
    assert ok["hookInstance"] == body["hookInstance"] and ok["latency_ms"] > 0
    assert ok["rules"] == [c["source"]["topic"]["code"] for c in cards]
    assert bad["status"] == 400 and bad["hookInstance"] == body["hookInstance"]
    patient = body["context"]["patientId"]
    for line in lines:
        assert "secret-access-token-123" not in line and patient not in line


# --- probes and the review page -----------------------------------------------------------------------------------

def test_health_probes(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").get_json() == {"status": "ready", "checks": {"store": "ok", "cards": "ok"}}


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_review_page_is_behind_the_admin_credential(config):
    secured = create_app({**config, "ADMIN_PASSWORD": "governance-pw"}).test_client()
    assert secured.get("/").status_code == 401
    assert secured.get("/").headers["WWW-Authenticate"].startswith("Basic")
    assert secured.get("/", headers=basic("admin", "wrong")).status_code == 401
    page = secured.get("/", headers=basic("admin", "governance-pw"))
    assert page.status_code == 200 and page.content_type.startswith("text/html")
    assert "Content-Security-Policy" in page.headers


def test_review_page_is_refused_in_production_without_a_password(config):
    from conftest import ISS, JWKS

    production = create_app({**config, "AUTH_MODE": "required", "TRUSTED_ISSUERS": {ISS: {"jwks": JWKS}},
                             "PUBLIC_BASE_URL": "https://cds.hospital.example"})
    response = production.test_client().get("/")
    assert response.status_code == 403 and "CDS_ADMIN_PASSWORD" in response.get_json()["message"]
    assert production.test_client().get("/healthz").status_code == 200  # probes need no token


# --- deployment files ---------------------------------------------------------------------------------------------

def test_the_kubernetes_example_names_real_settings_and_probes(client):
    import yaml

    from cds_service.config import BY_NAME

    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text(encoding="utf-8")))
    kinds = {d["kind"]: d for d in docs}
    assert {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"} <= set(kinds)
    names = [k for k in kinds["ConfigMap"]["data"]]
    container = kinds["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    names += [e["name"] for e in container["env"]]
    for name in names:
        assert name.startswith("CDS_") and name[4:] in BY_NAME, f"{name} is not a setting"
    load_settings(environ={k: v for k, v in kinds["ConfigMap"]["data"].items()})  # every value is valid
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in container["env"]}
    assert secret_env == {"CDS_DATABASE_URL": "database-url", "CDS_ADMIN_PASSWORD": "admin-password"}
    for probe in ("readinessProbe", "livenessProbe"):
        assert client.get(container[probe]["httpGet"]["path"]).status_code == 200
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == kinds["Deployment"]["metadata"]["name"]


def test_the_dockerfile_runs_as_non_root_with_a_health_check_on_a_real_route(client):
    import re

    from cds_service.config import BY_NAME

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    user = re.search(r"^USER (\S+)", dockerfile, re.M).group(1)
    assert user not in ("root", "0")
    path = re.search(r"HEALTHCHECK[\s\S]*?http://127\.0\.0\.1:8080(/\w+)", dockerfile).group(1)
    assert client.get(path).status_code == 200
    for name in re.findall(r"\b(CDS_[A-Z_]+)=", dockerfile):
        assert name[4:] in BY_NAME, f"{name} is not a setting"
    command = re.search(r'^CMD \["bash", "/app/(deploy/[\w.-]+)"\]', dockerfile, re.M).group(1)
    assert (ROOT / command).is_file()  # the entrypoint the slow-client tests start (tests/security)
    for copied in re.findall(r"^COPY ([^\n]+) \./deploy/", dockerfile, re.M)[0].split():
        assert (ROOT / copied).is_file()
