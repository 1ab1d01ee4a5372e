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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives import serialization

from cds_service import create_app
from conftest import (DISCOVERY, EC_KEY, ISS, JKU, JWKS, OTHER_EC_KEY, PUBLIC_BASE, RSA_KEY, SANDBOX_ISS,
                      SERVICE_FOR_HOOK, jwk, load_json, token)


@pytest.fixture
def secure_config(config) -> dict:
    return {**config, "AUTH_MODE": "required", "TRUSTED_ISSUERS": {ISS: {"jwks": JWKS}}, "PUBLIC_BASE_URL": PUBLIC_BASE}


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


# -- malformed tokens a caller without a key can send: every one a 401 JSON, never a 500 -------------------------------
def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged(header: dict, claims: dict | bytes | None = None, signature: bytes = b"not-a-signature") -> str:
    """A token put together by hand, signed by nobody (what a red team sends)."""
    now = int(time.time())
    claims = {"iss": ISS, "aud": DISCOVERY, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())} \
        if claims is None else claims
    payload = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    return f"{_b64(json.dumps(header).encode())}.{_b64(payload)}.{_b64(signature)}"


@pytest.mark.parametrize("make", [
    pytest.param(lambda: forged({"alg": ["ES384"], "kid": "ec-1"}), id="alg-as-list"),
    pytest.param(lambda: forged({"alg": {"name": "ES384"}, "kid": "ec-1"}), id="alg-as-object"),
    pytest.param(lambda: forged({"alg": "RS256", "kid": "rsa-1"}), id="rs256-garbage-signature"),
    pytest.param(lambda: forged({"alg": "RS256", "kid": "ec-1"}), id="rsa-alg-on-an-ec-key"),
    pytest.param(lambda: forged({"alg": "ES384", "kid": "rsa-1"}), id="ec-alg-on-an-rsa-key"),
    pytest.param(lambda: forged({"alg": "PS512", "kid": "ec-1"}, signature=b"\xff" * 512), id="pss-on-an-ec-key"),
    pytest.param(lambda: forged({"alg": "ES384", "kid": ["ec-1"]}), id="kid-as-list"),
    pytest.param(lambda: forged({"alg": "ES384", "kid": "ec-1", "jku": {"url": JKU}}), id="jku-as-object"),
    pytest.param(lambda: forged({"alg": "ES384", "kid": "ec-1"}, b'{"iss":"' + ISS.encode() + b'","exp":1'
                                + b"0" * 400 + b',"iat":1,"jti":"j","aud":"x"}'), id="exp-of-10^400-unsigned"),
    pytest.param(lambda: token(exp=10 ** 400), id="exp-of-10^400-signed"),
    pytest.param(lambda: token(exp="tomorrow"), id="exp-as-text"),
    pytest.param(lambda: token(iat=True), id="iat-as-boolean"),
    pytest.param(lambda: token(nbf=[1]), id="nbf-as-list"),
    pytest.param(lambda: token(jti="j" * 10_000), id="jti-of-10000-characters"),
    pytest.param(lambda: token(jti=42), id="jti-as-number"),
    pytest.param(lambda: f"{_b64(b'[1]')}.{_b64(b'{}')}.{_b64(b'x')}", id="header-not-an-object"),
    pytest.param(lambda: "Zm9v." * 3000, id="many-segments"),
    pytest.param(lambda: "\u00e9t\u00e9.\u00e9t\u00e9.\u00e9t\u00e9", id="not-ascii"),
])
def test_every_malformed_token_is_a_401_json(secure, make):
    response = get(secure, make())
    assert response.status_code == 401, response.get_data(as_text=True)[:200]
    assert response.get_json()["error"] == "unauthorized" and response.get_json()["message"]


token_headers = st.dictionaries(st.sampled_from(["alg", "kid", "jku", "typ", "crit", "x5u", "jwk"]),
                                st.none() | st.booleans() | st.integers() | st.text(max_size=12)
                                | st.lists(st.text(max_size=5), max_size=2) | st.sampled_from(["ES384", "RS384",
                                                                                              "ec-1", "rsa-1", JKU]))
claim_values = (st.none() | st.booleans() | st.integers(min_value=-2 ** 70, max_value=2 ** 70) | st.floats()
                | st.text(max_size=12) | st.lists(st.integers(), max_size=2))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=token_headers, claims=st.dictionaries(st.sampled_from(["iss", "aud", "exp", "iat", "nbf", "jti", "sub"]),
                                                    claim_values), signature=st.binary(max_size=600))
def test_generated_tokens_never_get_a_5xx(secure, header, claims, signature):
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # a jku in a header must not reach the network
        response = get(secure, forged(header, {"iss": ISS, **claims}, signature))
    assert response.status_code == 401 and response.is_json


def test_nbf_is_honoured_with_the_exp_leeway(secure):
    now = int(time.time())
    assert get(secure, token(nbf=now - 5)).status_code == 200  # Epic sends nbf a little in the past
    assert get(secure, token(nbf=now + 30)).status_code == 200  # within the 60 s clock-skew leeway
    late = get(secure, token(nbf=now + 600))
    assert late.status_code == 401 and "not valid yet" in late.get_json()["message"]


# -- the audience is this service's configured URL, never the Host header ------------------------------------------
def test_required_mode_does_not_start_without_a_public_base_url(secure_config):
    for value in ("", "cds.hospital.example", "ftp://cds.hospital.example", "https://cds.hospital.example/?a=1"):
        with pytest.raises(ValueError, match="CDS_PUBLIC_BASE_URL"):
            create_app({**secure_config, "PUBLIC_BASE_URL": value})


def test_a_token_for_another_service_is_refused_whatever_the_host_header_says(secure_config):
    client = create_app({**secure_config, "PUBLIC_BASE_URL": "https://cds.hospital.example"}).test_client()
    foreign = token(aud="https://other-service.hospital.example/cds-services")
    response = client.get("/cds-services", headers={"Authorization": f"Bearer {foreign}",
                                                    "Host": "other-service.hospital.example",
                                                    "X-Forwarded-Host": "other-service.hospital.example"})
    assert response.status_code == 401 and "audience" in response.get_json()["message"]
    own = token(aud="https://cds.hospital.example/cds-services")
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {own}",
                                                "Host": "anything.example"}).status_code == 200


# -- the replay check while the database is down -------------------------------------------------------------------
def test_hook_calls_are_answered_while_the_store_is_down_and_replays_to_the_worker_are_still_refused(
        secure_config, monkeypatch, caplog):
    from sqlalchemy import create_engine

    from conftest import metric_value

    app = create_app(secure_config)
    client = app.test_client()
    store = app.extensions["cds_store"]
    path = f"/cds-services/{SERVICE_FOR_HOOK['order-sign']}"
    body = load_json("requests/tramadol-serotonergic/fires-tramadol-draft-with-duloxetine.order-sign.r4.json")
    before = metric_value(client.get("/metrics").get_data(as_text=True), "cds_replay_check_degraded_total")
    down = create_engine("postgresql+psycopg://cds@127.0.0.1:9/none", connect_args={"connect_timeout": 1})
    monkeypatch.setattr(store, "engine", down)
    monkeypatch.setattr(store, "tokens", down)  # where token ids are claimed
    tok = token(aud=PUBLIC_BASE + path)
    with caplog.at_level(logging.WARNING):
        first = client.post(path, json=body, headers={"Authorization": f"Bearer {tok}"})
        assert first.status_code == 200 and first.get_json()["cards"]
        replay = client.post(path, json=body, headers={"Authorization": f"Bearer {tok}"})
    assert replay.status_code == 401 and "already used" in replay.get_json()["message"]
    assert "memory" in caplog.text and tok not in caplog.text
    after = metric_value(client.get("/metrics").get_data(as_text=True), "cds_replay_check_degraded_total")
    assert after - before == 1  # the replay was refused from memory, before the store was asked again
    monkeypatch.undo()  # the database is back: a token used during the outage is still refused
    assert client.post(path, json=body, headers={"Authorization": f"Bearer {tok}"}).status_code == 401
    fresh = token(aud=PUBLIC_BASE + path)
    assert client.post(path, json=body, headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    app.extensions["cds_store"].close()


EPIC_ISS = "https://fhir.hospital.example/interconnect-fhir-oauth/api/FHIR/R4"
EPIC_CLIENT = "d2a3c1e0-5b7f-4c9e-9a41-3f0c2b7e8d11"


def _epic_token(**claims) -> str:
    """As Epic signs it: RS384, typ JWT, kid; iss the site's FHIR base, sub the client id, nbf 5 minutes early."""
    now = int(time.time())
    body = {"iss": EPIC_ISS, "sub": EPIC_CLIENT, "aud": DISCOVERY, "jti": str(uuid.uuid4()), "iat": now,
            "nbf": now - 300, "exp": now + 300, **claims}
    return jwt.encode({k: v for k, v in body.items() if v is not None}, RSA_KEY, algorithm="RS384",
                      headers={"kid": "rsa-1", "typ": "JWT"})


@pytest.fixture
def epic_site(secure_config):
    issuers = {EPIC_ISS: {"jwks": JWKS, "sub": EPIC_CLIENT}}
    return create_app({**secure_config, "TRUSTED_ISSUERS": issuers}).test_client()


def test_an_epic_token_for_the_configured_client_is_accepted(epic_site):
    assert get(epic_site, _epic_token()).status_code == 200


@pytest.mark.parametrize("sub", ["another-client", None, ""], ids=["another client", "no sub", "empty sub"])
def test_an_issuer_that_requires_a_sub_refuses_any_other(epic_site, sub):
    response = get(epic_site, _epic_token(sub=sub))
    assert response.status_code == 401
    assert "sub" in response.get_json()["message"]


def test_an_issuer_sub_that_is_not_text_stops_the_start(secure_config):
    from cds_service.config import ConfigError

    with pytest.raises(ConfigError, match="sub"):
        create_app({**secure_config, "TRUSTED_ISSUERS": {EPIC_ISS: {"jwks": JWKS, "sub": 42}}})
