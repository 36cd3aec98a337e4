"""How each system proves a webhook call is its own. Every comparison is constant-time.

- webCRM: the hook DTO (OrganisationHookDto etc.: Filter, EventType, IsEnabled, TargetUrl) has no
  secret and webCRM does not sign deliveries, so the only proof possible is a shared secret inside
  the registered TargetUrl: `.../hooks/webcrm/debtors?token=<secret>`. It is as strong as the
  secrecy of that URL (use HTTPS; the receiver's access log is off so the token is never written).
- e-conomic: `X-Economic-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the secret
  given when the webhook was registered (the emulator's design; see emulators/hooks.py). Calls whose
  timestamp is further than `tolerance` from now are refused (replays).
- TribeCRM (for when it is connected): Base64 of the hex HMAC-SHA512 of the body, per its docs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


class SignatureMissing(Exception):
    """No credential at all: 401."""


class SignatureInvalid(Exception):
    """A credential that does not verify (forged, wrong secret, expired): 403."""


def verify_token(given: str | None, expected: str) -> None:
    if not given:
        raise SignatureMissing("the call carries no token (query parameter 'token' or header X-Ledgerbridge-Token)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureInvalid("the token does not match")


def economic_signature(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_economic(header: str | None, body: bytes, secret: str, *, tolerance: float = 300,
                    now: float | None = None) -> None:
    if not header:
        raise SignatureMissing("the call carries no X-Economic-Signature header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, given = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not given:
        raise SignatureInvalid("X-Economic-Signature is not of the form t=<unix>,v1=<hex>")
    if abs((time.time() if now is None else now) - int(t)) > tolerance:
        raise SignatureInvalid(f"the signature's timestamp is more than {tolerance:g} s from now (a replay?)")
    expected = economic_signature(secret, body, int(t)).split("v1=", 1)[1]
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureInvalid("the signature does not match the body")


def tribecrm_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha512).hexdigest().encode()).decode()


def verify_tribecrm(header: str | None, body: bytes, secret: str) -> None:
    if not header:
        raise SignatureMissing("the call carries no signature header")
    if not hmac.compare_digest(header.strip().encode(), tribecrm_signature(secret, body).encode()):
        raise SignatureInvalid("the signature does not match the body")
