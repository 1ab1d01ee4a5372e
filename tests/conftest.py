"""Shared pytest fixtures: the app (Flask tutorial style), a client, and the fixture files."""
from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

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


# -- JWTs as CDS clients sign them (keys made here) ---------------------------------------------------------------
ISS = "https://ehr.example.org"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
PUBLIC_BASE = "http://localhost"  # what the test client calls; required mode needs it set
DISCOVERY = PUBLIC_BASE + "/cds-services"
EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())


def jwk(private_key, kid: str, alg: str) -> dict:
    algo = jwt.algorithms.ECAlgorithm if alg.startswith("ES") else jwt.algorithms.RSAAlgorithm
    key = json.loads(algo.to_jwk(private_key.public_key()))
    return {**key, "kid": kid, "alg": alg, "use": "sig"}


JWKS = {"keys": [jwk(EC_KEY, "ec-1", "ES384"), jwk(RSA_KEY, "rsa-1", "RS384")]}


def token(aud=DISCOVERY, key=EC_KEY, alg="ES384", kid="ec-1", iss=ISS, jku=None, drop=(), **claims) -> str:
    now = int(time.time())
    body = {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4()), **claims}
    for name in drop:
        body.pop(name)
    headers = {"kid": kid, "typ": "JWT", **({"jku": jku} if jku else {})}
    return jwt.encode(body, key, algorithm=alg, headers=headers)


# The sandbox's R4 FHIR server, as the no-prefetch sandbox request names it, and an empty search answer.
SANDBOX_R4 = "https://launch.smarthealthit.org/v/r4/fhir"
EMPTY_SEARCH = {"resourceType": "Bundle", "type": "searchset", "total": 0}
NO_PREFETCH = "sandbox/order-sign-r4-fentanyl-no-prefetch.json"
_SEARCHED_KINDS = ("MedicationStatement", "MedicationDispense", "Condition", "Observation", "Procedure",
                   "ServiceRequest", "Encounter")


def mock_other_searches(mock) -> None:
    """Every search of the no-prefetch request but the medication list answered empty, the Patient found."""
    for kind in _SEARCHED_KINDS:
        mock.get(f"{SANDBOX_R4}/{kind}", json=EMPTY_SEARCH)
    mock.get(f"{SANDBOX_R4}/Patient/smart-7321938", json={"resourceType": "Patient", "id": "smart-7321938"})


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
    app = create_app(config)
    yield app
    app.extensions["cds_store"].close()


@pytest.fixture
def client(app):
    return app.test_client()


def post_hook(client, body: dict, service: str | None = None):
    return client.post(f"/cds-services/{service or SERVICE_FOR_HOOK[body['hook']]}", json=body)


def _rule_of(code: str) -> str:
    """A topic code read back as its rule id, whichever shape the client got (Epic's: letters and digits)."""
    from cds_service.cards import topic_code
    from cds_service.rules import RULES

    return {topic_code(r): r for r in [*RULES, "check-failed"]}.get(code, code)


def card_ids(response) -> list[str]:
    """The rule id of each card."""
    assert response.status_code == 200, response.get_json()
    return [_rule_of(c["source"]["topic"]["code"]) for c in response.get_json()["cards"]]


def folded_ids(response) -> dict[str, list[str]]:
    """Per card that carries them, the rule ids of the findings folded into it as lines."""
    from cds_service.cards import FOLDED_EXTENSION

    return {_rule_of(c["source"]["topic"]["code"]): [_rule_of(f) for f in c["extension"][FOLDED_EXTENSION]]
            for c in response.get_json()["cards"] if FOLDED_EXTENSION in c.get("extension", {})}


def rule_ids(response) -> list[str]:
    """Every finding shown: each card's rule id, followed by those of the findings folded into it."""
    folded = folded_ids(response) if response.status_code == 200 else {}
    return [r for rule in card_ids(response) for r in [rule, *folded.get(rule, [])]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as Debian's postgres user then."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for this test session: Debian's binaries (installed by .ci/run), a throwaway
    cluster in a temporary directory on a free loopback port, stopped at the end. ``CDS_TEST_DATABASE_URL``
    points the tests at an existing server instead (its database is emptied between tests)."""
    if os.environ.get("CDS_TEST_DATABASE_URL"):
        yield os.environ["CDS_TEST_DATABASE_URL"]
        return
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail("PostgreSQL is not installed: `bash .ci/run` installs it (apt-get install postgresql), "
                    "or set CDS_TEST_DATABASE_URL to a server of your own")
    bindir = os.path.dirname(found[-1])
    tmp = tempfile.mkdtemp(prefix="cds-pg-")
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres")
    data, port = os.path.join(tmp, "data"), free_port()
    subprocess.run(_as_postgres([f"{bindir}/initdb", "-D", data, "-U", "cds", "-A", "trust", "-E", "UTF8",
                                 "--no-sync"]), check=True, capture_output=True)
    subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", data, "-l", os.path.join(tmp, "server.log"), "-w",
                                 "-o", f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off", "start"]),
                   check=True, capture_output=True)
    try:
        subprocess.run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "cds", "cds_test"],
                       check=True, capture_output=True)
        yield f"postgresql+psycopg://cds@127.0.0.1:{port}/cds_test"
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """The test server's URL, with the service's tables dropped after each test."""
    yield postgres_server
    from sqlalchemy import create_engine

    from cds_service.store import metadata

    engine = create_engine(postgres_server)
    metadata.drop_all(engine)
    engine.dispose()


def metric_value(exposition: str, name: str, **labels) -> float:
    """The sum of the samples of ``name`` with these labels in Prometheus exposition text (0 when absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    return sum(s.value for family in text_string_to_metric_families(exposition) for s in family.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))
