"""e-conomic's webhook signature: `X-Economic-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.

With the secret given when the webhook was registered (the emulator's design, see emulator_hooks.py).
Both the emulator (signing) and the receiver (verifying) use this one definition. Calls whose
timestamp is further than `tolerance` from now are refused; a replay inside it is caught by the
inbox's event id.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from ledgerbridge.systems.base import SignatureInvalid, SignatureMissing

SIGNATURE_HEADER = "X-Economic-Signature"


def economic_signature(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def verify_economic(header: str | None, body: bytes, secret: str, *, tolerance: float = 300,
                    now: float | None = None) -> None:
    if not header:
        raise SignatureMissing(f"the call carries no {SIGNATURE_HEADER} header")
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    t, given = parts.get("t", ""), parts.get("v1", "")
    if not t.isdigit() or not given:
        raise SignatureInvalid(f"{SIGNATURE_HEADER} is not of the form t=<unix>,v1=<hex>")
    if abs((time.time() if now is None else now) - int(t)) > tolerance:
        raise SignatureInvalid(f"the signature's timestamp is more than {tolerance:g} s from now (a replay?)")
    expected = economic_signature(secret, body, int(t)).split("v1=", 1)[1]
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureInvalid("the signature does not match the body")
