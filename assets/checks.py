"""The checks on a plan asset, as the UI shows them.

- quality_gate (ERROR, blocking): fails when the share of records newly failing the checks passes
  the threshold (a mass corruption upstream); its description says why in one sentence.
- held_back (WARN): fails while any record is held back, however long it has been held, so a
  passing gate never hides records that are still not synced.

Metadata holds counts, rules (value-free reasons) and hub ids, never names, e-mails or values.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from assets.metadata import markdown_table
from ledgerbridge.sync.gate import block_reason

GATE, HELD = "quality_gate", "held_back"


def plan_check_specs(asset: AssetKey) -> list[AssetCheckSpec]:
    return [
        AssetCheckSpec(GATE, asset=asset, blocking=True,
                       description="Blocks the push when too many records newly fail the checks (a mass corruption "
                                   "upstream); single bad records are held back and the rest go on."),
        AssetCheckSpec(HELD, asset=asset,
                       description="Warns while records are held back by the checks; they are released by the next "
                                   "sync after they are fixed in the source system."),
    ]


def gate_sentence(gate: Any, threshold: float) -> str:
    """Why the gate passed or failed, in one sentence a person can act on."""
    planned = len(gate.planned) + len(gate.held)
    if gate.blocked and gate.blocked_since is not None and gate.still_held:
        return (f"Push to {gate.system} blocked: {block_reason(gate, threshold)}; fix them in the source, or once "
                f"checked: ledgerbridge gate release --entity {gate.entity} --system {gate.system}.")
    if gate.blocked and gate.mass_delete:
        return (f"Push to {gate.system} blocked: {gate.delete_share:.0%} of the linked {gate.entity} were deleted in "
                f"the other system (threshold {threshold:.0%}), which looks like a mass delete upstream; check the "
                "source system, then run again.")
    if gate.blocked:
        return (f"Push to {gate.system} blocked: {gate.newly_bad_share:.0%} of {planned} planned {gate.entity} newly "
                f"failed the checks (threshold {threshold:.0%}), which looks like a mass corruption upstream; fix the "
                "source data (see counts_by_reason), then run again.")
    return (f"{gate.newly_bad_share:.0%} of {planned} planned {gate.entity} newly failed the checks "
            f"(threshold {threshold:.0%}); the push to {gate.system} goes on.")


def held_sentence(entity: str, target: str, source: str, held: dict[str, list[str]]) -> str:
    if not held:
        return f"No {entity} are held back from {target}."
    counts = Counter(finding for findings in held.values() for finding in set(findings))
    top = ", ".join(f"{finding} ({count})" for finding, count in counts.most_common(3))
    return (f"{len(held)} {entity} are held back from {target} ({top}); fix them in {source} and the next sync "
            "releases them.")


def plan_check_results(gate: Any, threshold: float, source: str,
                       held: dict[str, list[str]] | None = None) -> list[AssetCheckResult]:
    """`held`: every record held back now (ledgerbridge.sync.review.still_held), not only those this
    run planned again; without it (a dry run records nothing), the ones this run held."""
    this_run: dict[str, list[str]] = {}
    held_keys = {w.hub_id for w in gate.held}
    for finding in gate.report.findings:
        if str(finding.key) in held_keys:
            this_run.setdefault(str(finding.key), []).append(f"{finding.field}: {finding.check}")
    held = this_run if held is None else held
    counts = {
        "planned": len(gate.planned),
        "held_back": len(gate.held),
        "released": gate.released,
        "bad_share": round(gate.report.bad_share, 4),
        "newly_bad_share": round(gate.newly_bad_share, 4),
        "threshold": threshold,
        "counts_by_reason": gate.report.counts_by_reason(),
    }
    return [
        AssetCheckResult(check_name=GATE, passed=not gate.blocked, severity=AssetCheckSeverity.ERROR,
                         description=gate_sentence(gate, threshold),
                         metadata={**counts, "held_back_ids": _ids_table(this_run)}),
        AssetCheckResult(check_name=HELD, passed=not held, severity=AssetCheckSeverity.WARN,
                         description=held_sentence(gate.entity, gate.system, source, held),
                         metadata={"held_back": len(held), "held_back_ids": _ids_table(held)}),
    ]


def _ids_table(held: dict[str, list[str]]):
    return markdown_table([{"hub_id": hub_id, "findings": "; ".join(sorted(set(findings)))}
                           for hub_id, findings in held.items()], ["hub_id", "findings"])
