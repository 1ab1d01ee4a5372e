"""A test CDS client's keys and tokens, for trying the service with authentication on (never for production).

    python scripts/test_jwt.py keys [DIR]       # once: DIR/private.pem and DIR/jwks.json (default instance/test-issuer)
    python scripts/test_jwt.py token URL [DIR]  # a token for one call to URL, signed as CDS clients sign (ES384)

The service trusts the issuer with
``CDS_TRUSTED_ISSUERS='{"https://test-issuer.example": {"jwks_file": "DIR/jwks.json"}}'``. Each token is for
one call: its ``aud`` is the URL called and its ``jti`` is refused a second time.
"""
from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://test-issuer.example"
KID = "test-issuer-1"
DEFAULT_DIR = Path("instance/test-issuer")


def write_keys(directory: Path) -> Path:
    """A new P-384 key pair: the private key stays in DIR, the JWK Set is what the service is given."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (directory / "private.pem").write_bytes(pem)
    (directory / "private.pem").chmod(0o600)
    public = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwks = {"keys": [{**public, "kid": KID, "alg": "ES384", "use": "sig"}]}
    (directory / "jwks.json").write_text(json.dumps(jwks, indent=2) + "\n", encoding="utf-8")
    return directory / "jwks.json"


def make_token(url: str, directory: Path) -> str:
    """A token for one call to ``url``, valid for five minutes."""
    key = serialization.load_pem_private_key((directory / "private.pem").read_bytes(), password=None)
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": url, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": KID, "typ": "JWT"})


def main(argv: list[str]) -> int:
    if argv[:1] == ["keys"] and len(argv) <= 2:
        print(f"wrote {write_keys(Path(argv[1]) if len(argv) == 2 else DEFAULT_DIR)}")
        return 0
    if argv[:1] == ["token"] and len(argv) in (2, 3):
        directory = Path(argv[2]) if len(argv) == 3 else DEFAULT_DIR
        if not (directory / "private.pem").is_file():
            print(f"test_jwt: no key in {directory}; run: python scripts/test_jwt.py keys", file=sys.stderr)
            return 2
        print(make_token(argv[1], directory))
        return 0
    print("usage: python scripts/test_jwt.py keys [DIR] | token URL [DIR]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
