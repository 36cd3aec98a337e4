"""Signature checks every system's webhooks may use. Every comparison is constant-time.

A system's own scheme lives in its package (e-conomic: systems/economic/signature.py, TribeCRM:
systems/tribecrm/webhooks.py); what is here is shared: a secret token carried in the registered URL
or a header, for systems that do not sign deliveries (webCRM, Uniconta).
"""

from __future__ import annotations

import hmac

from ledgerbridge.systems.base import SignatureInvalid, SignatureMissing

__all__ = ["SignatureInvalid", "SignatureMissing", "verify_token"]


def verify_token(given: str | None, expected: str) -> None:
    if not given:
        raise SignatureMissing("the call carries no token (query parameter 'token' or header X-Ledgerbridge-Token)")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise SignatureInvalid("the token does not match")
