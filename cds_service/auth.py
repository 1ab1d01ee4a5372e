"""Trusting CDS clients: verify the EHR's JWT (CDS Hooks 2.0, "Trusting CDS Clients").

- Trusted issuers come from configuration (``TRUSTED_ISSUERS``): ``{iss: {"jwks": {...}} | {"jwks_file": path} |
  {"jwks_url": url}, "jku_allowlist": [url, ...], "sub": client_id}``; with ``sub`` a token must name that client
  (Epic: the client id the site registered). A ``jku`` header is fetched only when it is on that
  issuer's allow-list; otherwise it is ignored and the issuer's configured JWK Set is used (the spec's
  out-of-band exchange; the CDS Hooks sandbox names a jku that may be unreachable from the service).
- Asymmetric algorithms only: ``none`` and HMAC are refused before any key is looked at.
- ``aud`` must equal the URL invoked; ``exp`` (with a small leeway), ``iat`` not in the future, and a ``jti`` that
  is never reused within its lifetime.
- The key is chosen by ``kid``; a JWK Set fetched from a URL is cached and refetched on an unknown ``kid`` at
  most once per ``JWKS_MIN_REFRESH_SECONDS``.
Failures raise AuthError with a short reason that helps a legitimate integrator and not an attacker (no key
material, no token content).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jwt
import requests

from . import outbound

log = logging.getLogger(__name__)
ASYMMETRIC = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "EdDSA"})
MAX_JWKS_BYTES = 256 * 1024


class AuthError(Exception):
    """The call is not authenticated; the message is safe to return to the caller."""


@dataclass
class _KeySet:
    source: str  # "inline", "file" or the URL
    keys: dict[str, Any] = field(default_factory=dict)  # kid -> PyJWK
    fetched_at: float = 0.0


class JtiCache:
    """Token ids seen, kept until the token expires, in this process (for a Verifier used without a store)."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def use(self, key: str, expires_at: float, now: float) -> bool:
        """Record ``key``; False when it was already used and has not expired."""
        with self._lock:
            if len(self._seen) > 10000:
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            if key in self._seen and self._seen[key] > now:
                return False
            self._seen[key] = expires_at
            return True

    def seen(self, key: str, now: float) -> bool:
        return self._seen.get(key, 0.0) > now


class ReplayCheck:
    """The replay check hook calls use: the shared store decides (a token replayed to another worker or replica
    is refused), and while the store cannot be reached this process remembers the token ids itself, so that
    hook calls keep being answered during a database outage. What is lost meanwhile is only the refusal of a
    replay to *another* process; each degraded check is reported (``on_degraded``: logged and counted), and ids
    remembered during the outage are still refused after it."""

    def __init__(self, shared: Callable[[str, float, float], bool], on_degraded: Callable[[Exception], None]):
        self.shared, self.on_degraded, self.local = shared, on_degraded, JtiCache()

    def __call__(self, key: str, expires_at: float, now: float) -> bool:
        if self.local.seen(key, now):
            return False
        try:
            return self.shared(key, expires_at, now)
        except Exception as exc:  # noqa: BLE001  the store is down or failing: degrade, never a 500
            self.on_degraded(exc)
            return self.local.use(key, expires_at, now)


class Verifier:
    def __init__(self, issuers: dict[str, dict], leeway: int = 60, min_refresh: int = 300,
                 fetch: Callable[[str], dict] | None = None, clock: Callable[[], float] = time.time,
                 replay: Callable[[str, float, float], bool] | None = None):
        self.leeway, self.min_refresh, self.clock = leeway, min_refresh, clock
        self.fetch = fetch or _fetch_jwks
        # Token ids seen: the shared store in the service (a replay to another worker or replica is refused too).
        self.use_jti = replay or JtiCache().use
        self._lock = threading.Lock()
        self.issuers: dict[str, dict] = {}
        self._sets: dict[str, _KeySet] = {}
        for iss, spec in issuers.items():
            if not isinstance(spec, dict) or not ({"jwks", "jwks_file", "jwks_url"} & set(spec) or spec.get("jku_allowlist")):
                raise ValueError(f"TRUSTED_ISSUERS[{iss!r}] needs jwks, jwks_file, jwks_url or jku_allowlist")
            if "sub" in spec and not (isinstance(spec["sub"], str) and spec["sub"]):
                raise ValueError(f"TRUSTED_ISSUERS[{iss!r}]: sub must be the client id (text)")
            for url in ([spec["jwks_url"]] if "jwks_url" in spec else []) + list(spec.get("jku_allowlist") or []):
                try:
                    outbound.parse(url)
                except outbound.UnsafeUrl as exc:
                    raise ValueError(f"TRUSTED_ISSUERS[{iss!r}]: a JWK Set URL is refused: {exc}") from None
            self.issuers[iss] = spec
            if "jwks" in spec:
                self._sets[f"inline:{iss}"] = _KeySet("inline", _parse_jwks(spec["jwks"]), self.clock())
            elif "jwks_file" in spec:
                with open(spec["jwks_file"], encoding="utf-8") as fh:
                    self._sets[f"inline:{iss}"] = _KeySet("file", _parse_jwks(json.load(fh)), self.clock())

    def _key(self, iss: str, kid: str | None, jku: str | None) -> Any:
        spec = self.issuers[iss]
        if jku is not None and jku in spec.get("jku_allowlist", []):
            return self._from_url(jku, kid)
        if jku is not None and not ({"jwks", "jwks_file", "jwks_url"} & set(spec)):
            raise AuthError("jku is not trusted for this issuer")
        # A jku off the allow-list is never fetched; keys exchanged out of band are used instead.
        if "jwks_url" in spec:
            return self._from_url(spec["jwks_url"], kid)
        keys = self._sets[f"inline:{iss}"].keys
        return _pick(keys, kid)

    def _from_url(self, url: str, kid: str | None) -> Any:
        with self._lock:
            cached = self._sets.get(url)
            now = self.clock()
            stale = cached is None or (kid is not None and kid not in cached.keys
                                       and now - cached.fetched_at >= self.min_refresh)
            if stale:
                try:
                    cached = _KeySet(url, _parse_jwks(self.fetch(url)), now)
                except (requests.RequestException, ValueError, jwt.PyJWKError):
                    log.warning("could not fetch a JWK Set for a trusted issuer")
                    if cached is None:
                        raise AuthError("the issuer's keys could not be fetched") from None
                else:
                    self._sets[url] = cached
        return _pick(cached.keys, kid)

    def verify(self, token: str, audience: str) -> dict:
        """The verified claims of ``token`` for a call to ``audience``; raises AuthError, never anything else.

        A token shape the checks below did not foresee is still a 401, logged by type only: an unauthenticated
        caller must never be able to produce a 500."""
        try:
            return self._verify(token, audience)
        except AuthError:
            raise
        except Exception as exc:  # noqa: BLE001
            log.warning("token check failed unexpectedly (%s); refused", type(exc).__name__)
            raise AuthError("malformed token") from None

    def _verify(self, token: str, audience: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise AuthError("malformed token") from None
        alg, kid, jku = header.get("alg"), header.get("kid"), header.get("jku")
        if not isinstance(alg, str) or alg not in ASYMMETRIC:
            raise AuthError("token algorithm not accepted (asymmetric signatures only)")
        if not (kid is None or isinstance(kid, str)) or not (jku is None or isinstance(jku, str)):
            raise AuthError("malformed token (kid and jku must be text)")
        iss = unverified.get("iss")
        if not isinstance(iss, str) or iss not in self.issuers:
            raise AuthError("issuer not trusted")
        for name in TIME_CLAIMS:  # a number PyJWT or our arithmetic cannot handle (10^400, a string) is refused
            if name in unverified and not _is_time(unverified[name]):
                raise AuthError(f"token {name} claim is not a valid time")
        key = self._key(iss, kid, jku)
        if not key.fits(alg):
            raise AuthError("token algorithm does not match the issuer's key")
        try:
            claims = jwt.decode(token, key.key, algorithms=[alg], audience=audience, issuer=iss, leeway=self.leeway,
                                options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token audience is not this service URL") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the {exc.claim} claim") from None
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("token not valid yet (nbf)" if "nbf" in str(exc) else "token issued in the future") from None
        except jwt.PyJWTError:
            raise AuthError("token signature or claims invalid") from None
        wanted_sub = self.issuers[iss].get("sub")
        if wanted_sub is not None and claims.get("sub") != wanted_sub:
            raise AuthError("token sub is not the client configured for this issuer")
        now = self.clock()
        if claims["iat"] > now + self.leeway:
            raise AuthError("token issued in the future")
        if not isinstance(claims.get("jti"), str) or not claims["jti"] or len(claims["jti"]) > MAX_JTI:
            raise AuthError("token jti claim must be text of at most 255 characters")
        if not self.use_jti(f"{iss}|{claims['jti']}", float(claims["exp"]) + self.leeway, now):
            raise AuthError("token already used")
        return claims


TIME_CLAIMS = ("exp", "iat", "nbf")
LATEST_TIME = 253402300799  # 9999-12-31T23:59:59Z: beyond it a time claim is not a time
MAX_JTI = 255
_FAMILIES = {"EC": ("ES256", "ES384", "ES512"), "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
             "OKP": ("EdDSA",)}


def _is_time(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
            and 0 <= value <= LATEST_TIME)


@dataclass(frozen=True)
class _Key:
    """A trusted public key and the algorithms it may verify: the JWK's own ``alg`` when it names one, else its
    key type's family (an RSA key never checks an ES384 signature: PyJWT raises a TypeError on that pairing)."""

    key: Any
    key_type: str
    alg: str | None

    def fits(self, alg: str) -> bool:
        return alg == self.alg if self.alg else alg in _FAMILIES.get(self.key_type, ())


def _parse_jwks(data: Any) -> dict[str, _Key]:
    """The signing keys of a JWK Set by ``kid``; keys PyJWT cannot use, or meant for encryption, are skipped."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWK Set is a JSON object with a list of keys")
    keys = {}
    for raw in data["keys"]:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(raw)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue
        if jwk.key_type in _FAMILIES:
            keys[jwk.key_id or ""] = _Key(jwk.key, jwk.key_type, raw.get("alg") if isinstance(raw.get("alg"), str) else None)
    if not keys:
        raise ValueError("the JWK Set has no usable signing key")
    return keys


def _pick(keys: dict[str, _Key], kid: str | None) -> _Key:
    if kid is None and len(keys) == 1:
        return next(iter(keys.values()))
    if kid not in keys:
        raise AuthError("no trusted key with this kid")
    return keys[kid]


def _fetch_jwks(url: str) -> dict:
    """A JWK Set from a trusted URL, by the outbound policy: no redirect, at most MAX_JWKS_BYTES, 8 s in all."""
    outbound.parse(url)
    ends_at = time.monotonic() + 8
    with outbound.BoundedSession() as session:
        timer = threading.Timer(8, session.abort)
        timer.start()
        try:
            with session.get(url, timeout=(3, 5), allow_redirects=False, stream=True) as resp:
                if resp.status_code != 200:
                    raise ValueError(f"JWK Set URL answered HTTP {resp.status_code}")
                body = outbound.read_bounded(resp, MAX_JWKS_BYTES, ends_at)
        except outbound.ReadFailed as exc:
            raise ValueError(f"JWK Set refused: {exc}") from None
        finally:
            timer.cancel()
    return json.loads(body)
