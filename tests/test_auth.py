"""JWT authentication (CDS Hooks 2.0 "Trusting CDS Clients"): a matrix of valid and invalid tokens, each rule
broken once, with keys made here; tokens shaped like the CDS Hooks sandbox's (ES384, kid and jku, iss, aud,
exp, iat, jti)."""
from __future__ import annotations

import json
import logging
import time
import uuid

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service import create_app
from conftest import SERVICE_FOR_HOOK, load_json

ISS = "https://ehr.example.org"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
DISCOVERY = "http://localhost/cds-services"
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


@pytest.fixture
def secure_config(config) -> dict:
    return {**config, "AUTH_MODE": "required", "TRUSTED_ISSUERS": {ISS: {"jwks": JWKS}}}


@pytest.fixture
def secure(secure_config):
    return create_app(secure_config).test_client()


def get(client, tok):
    return client.get("/cds-services", headers={"Authorization": f"Bearer {tok}"} if tok else {})


def test_valid_es384_and_rs384_tokens_are_accepted(secure):
    assert get(secure, token()).status_code == 200
    assert get(secure, token(key=RSA_KEY, alg="RS384", kid="rsa-1")).status_code == 200


def _unsigned() -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISS, "aud": DISCOVERY, "exp": now + 300, "iat": now, "jti": "x"}, None, algorithm="none")


def _hmac_with_public_key() -> str:
    """The classic key-confusion attack, forged by hand: HS256 keyed with the issuer's public key."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    public_pem = EC_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    now = int(time.time())
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "ec-1"}).encode())
    body = b64(json.dumps({"iss": ISS, "aud": DISCOVERY, "exp": now + 300, "iat": now, "jti": "y"}).encode())
    signature = b64(hmac.new(public_pem, f"{head}.{body}".encode(), hashlib.sha256).digest())
    return f"{head}.{body}.{signature}"


@pytest.mark.parametrize("make, reason", [
    (lambda: None, "a bearer JWT is required"),
    (lambda: "not.a.jwt", "malformed token"),
    (_unsigned, "algorithm not accepted"),
    (_hmac_with_public_key, "algorithm not accepted"),
    (lambda: token(exp=int(time.time()) - 3600), "expired"),
    (lambda: token(aud="https://other.example.org/cds-services"), "audience"),
    (lambda: token(iat=int(time.time()) + 3600), "future"),
    (lambda: token(drop=("jti",)), "jti"),
    (lambda: token(drop=("exp",)), "exp"),
    (lambda: token(iss="https://attacker.example.net"), "issuer not trusted"),
    (lambda: token(kid="unknown-kid"), "kid"),
    (lambda: token(key=OTHER_EC_KEY), "signature"),
    (lambda: token()[:-6] + "AAAAAA", "signature"),
])
def test_invalid_tokens_are_refused_with_401(secure, make, reason):
    response = get(secure, make())
    assert response.status_code == 401
    assert reason in response.get_json()["message"]
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_replayed_token_is_refused(secure):
    tok = token()
    assert get(secure, tok).status_code == 200
    assert get(secure, tok).status_code == 401


def test_hook_and_feedback_calls_need_a_token_for_their_own_url(secure):
    body = load_json("requests/tramadol-serotonergic/fires-tramadol-draft-with-duloxetine.order-sign.r4.json")
    url = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}"
    assert secure.post(url, json=body).status_code == 401
    wrong_aud = {"Authorization": f"Bearer {token()}"}  # a discovery token
    assert secure.post(url, json=body, headers=wrong_aud).status_code == 401
    ok = secure.post(url, json=body, headers={"Authorization": f"Bearer {token(aud='http://localhost' + url)}"})
    assert ok.status_code == 200 and ok.get_json()["cards"]
    feedback = {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-22T15:00:00Z"}]}
    assert secure.post(url + "/feedback", json=feedback).status_code == 401
    good = {"Authorization": f"Bearer {token(aud='http://localhost' + url + '/feedback')}"}
    assert secure.post(url + "/feedback", json=feedback, headers=good).status_code == 200


def test_cors_preflight_needs_no_token(secure):
    assert secure.options("/cds-services").status_code == 204


def test_public_base_url_sets_the_expected_audience(secure_config):
    client = create_app({**secure_config, "PUBLIC_BASE_URL": "https://cds.example.org/"}).test_client()
    assert get(client, token(aud="https://cds.example.org/cds-services")).status_code == 200
    assert get(client, token()).status_code == 401


def test_sandbox_shaped_token_with_allow_listed_jku(secure_config):
    issuers = {SANDBOX_ISS: {"jku_allowlist": [JKU]}}
    client = create_app({**secure_config, "TRUSTED_ISSUERS": issuers}).test_client()
    with responses.RequestsMock() as mock:
        mock.get(JKU, json={"keys": [jwk(EC_KEY, "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f", "ES384")]})
        tok = token(iss=SANDBOX_ISS, kid="44823f3d-0b01-4a6c-a80e-b9d3e8a7226f", jku=JKU)
        assert get(client, tok).status_code == 200
        # the JWK Set is cached: a second token does not fetch it again
        assert get(client, token(iss=SANDBOX_ISS, kid="44823f3d-0b01-4a6c-a80e-b9d3e8a7226f", jku=JKU)).status_code == 200
        assert len(mock.calls) == 1


def test_unknown_kid_refetches_the_jwks_at_a_bounded_rate(secure_config):
    issuers = {SANDBOX_ISS: {"jku_allowlist": [JKU]}}
    client = create_app({**secure_config, "TRUSTED_ISSUERS": issuers}).test_client()
    with responses.RequestsMock() as mock:
        mock.get(JKU, json={"keys": [jwk(EC_KEY, "k1", "ES384")]})
        assert get(client, token(iss=SANDBOX_ISS, kid="k1", jku=JKU)).status_code == 200
        for _ in range(5):  # an attacker cycling kids cannot make the service hammer the JWKS URL
            assert get(client, token(iss=SANDBOX_ISS, kid=str(uuid.uuid4()), jku=JKU)).status_code == 401
        assert len(mock.calls) == 1


def test_jku_off_the_allow_list_is_never_fetched(secure_config):
    with responses.RequestsMock() as mock:
        # issuer without out-of-band keys: refused
        client = create_app({**secure_config, "TRUSTED_ISSUERS": {SANDBOX_ISS: {"jku_allowlist": [JKU]}}}).test_client()
        response = get(client, token(iss=SANDBOX_ISS, jku="https://attacker.example.net/jwks.json"))
        assert response.status_code == 401 and "jku" in response.get_json()["message"]
        # issuer with out-of-band keys (the sandbox case): the jku is ignored, the configured key verifies
        client = create_app({**secure_config, "TRUSTED_ISSUERS": {SANDBOX_ISS: {"jwks": JWKS}}}).test_client()
        assert get(client, token(iss=SANDBOX_ISS, jku=JKU)).status_code == 200
        assert len(mock.calls) == 0


def test_required_mode_without_issuers_stops_the_start(config):
    with pytest.raises(ValueError, match="TRUSTED_ISSUERS"):
        create_app({**config, "AUTH_MODE": "required", "TRUSTED_ISSUERS": {}})


def test_development_mode_warns_at_start(config, caplog):
    with caplog.at_level(logging.WARNING):
        create_app(config)
    assert "AUTH_MODE=development" in caplog.text


def test_token_never_reaches_the_logs(secure, caplog):
    tok = token(aud="http://localhost/cds-services/nope")
    body = load_json("sandbox/order-sign-r4-fentanyl-no-prefetch.json")
    body["fhirAuthorization"] = {"access_token": "fhir-secret-token-4242", "token_type": "Bearer",
                                 "expires_in": 300, "scope": "patient/*.read", "subject": "cds"}
    body["fhirServer"] = "https://attacker.example.net/fhir"
    url = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}"
    with caplog.at_level(logging.DEBUG):
        get(secure, tok)
        secure.post(url, json=body, headers={"Authorization": f"Bearer {token(aud='http://localhost' + url)}"})
    assert tok not in caplog.text and tok.split(".")[1] not in caplog.text
    assert "fhir-secret-token-4242" not in caplog.text
    assert "smart-7321938" not in caplog.text  # nor the patient id
