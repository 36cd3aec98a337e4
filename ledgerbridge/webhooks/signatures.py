"""Signature checks every system's webhooks may use. Every comparison is constant-time.

A system's own scheme lives in its package (e-conomic: systems/economic/signature.py); what is
here is shared: a secret token carried in the registered URL or a header (for systems that do not
sign deliveries, such as webCRM), and TribeCRM's documented scheme (Base64 of the hex
HMAC-SHA512 of the body) until its package takes it over.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ledgerbridge.systems.base import SignatureInvalid, SignatureMissing

__all__ = ["SignatureInvalid", "SignatureMissing", "tribecrm_signature", "verify_token", "verify_tribecrm"]


def verify_token(given: str | None, expected: str) -> None:
    if not given:
        raise SignatureMissing("the call carries no token (query parameter 'token' or header X-Ledgerbridge-Token)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureInvalid("the token does not match")


def tribecrm_signature(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha512).hexdigest().encode()).decode()


def verify_tribecrm(header: str | None, body: bytes, secret: str) -> None:
    if not header:
        raise SignatureMissing("the call carries no signature header")
    if not hmac.compare_digest(header.strip().encode(), tribecrm_signature(secret, body).encode()):
        raise SignatureInvalid("the signature does not match the body")
