"""The quality gate: validates the records about to be pushed to a target system.

    records = [normalise_record("debtors", r) for r in records]
    report = check_records("debtors", records, target="economic", limits=connector.limits("debtors"))
    if exceeds_threshold(report):
        ...  # stop the push: mass corruption upstream
    push(report.good(records))

Free of Dagster; Great Expectations is imported on the first check, not on import.
"""

from ledgerbridge.quality.gate import Finding, QualityReport, check_records, exceeds_threshold
from ledgerbridge.quality.normalise import normalise_phone, normalise_record
from ledgerbridge.quality.suites import derived_expectations, extra_expectations, suite_expectations
from ledgerbridge.quality.validators import (
    VALIDATORS,
    validate_bic,
    validate_country,
    validate_currency,
    validate_ean,
    validate_email,
    validate_iban,
    validate_kind,
    validate_phone,
    validate_text,
    validate_url,
    validate_vat,
)

__all__ = [
    "Finding",
    "QualityReport",
    "check_records",
    "exceeds_threshold",
    "normalise_record",
    "normalise_phone",
    "derived_expectations",
    "extra_expectations",
    "suite_expectations",
    "VALIDATORS",
    "validate_bic",
    "validate_country",
    "validate_currency",
    "validate_ean",
    "validate_email",
    "validate_iban",
    "validate_kind",
    "validate_phone",
    "validate_text",
    "validate_url",
    "validate_vat",
]
