"""The checks on a plan asset, as the UI shows them.

- quality_gate (ERROR, blocking): fails when the share of records newly failing the checks passes
  the threshold (a mass corruption upstream); its description says why in one sentence.
- held_back (WARN): fails while any record is held back, however long it has been held, so a
  passing gate never hides records that are still not synced.

Metadata holds counts, rules (value-free reasons) and hub ids, never names, e-mails or values.
"""

from __future__ import annotations

from typing import Any

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetKey

from assets.metadata import markdown_table

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


def held_sentence(gate: Any, source: str) -> str:
    if not gate.held:
        return f"No {gate.entity} are held back from {gate.system}."
    top = ", ".join(f"{rule} ({count})" for rule, count in list(gate.report.counts_by_reason().items())[:3])
    return (f"{len(gate.held)} {gate.entity} are held back from {gate.system} ({top}); fix them in {source} and the "
            "next sync releases them.")


def plan_check_results(gate: Any, threshold: float, source: str) -> list[AssetCheckResult]:
    rules: dict[str, set[str]] = {}
    for finding in gate.report.findings:
        rules.setdefault(str(finding.key), set()).add(finding.rule or finding.check)
    counts = {
        "planned": len(gate.planned),
        "held_back": len(gate.held),
        "released": gate.released,
        "bad_share": round(gate.report.bad_share, 4),
        "newly_bad_share": round(gate.newly_bad_share, 4),
        "threshold": threshold,
        "counts_by_reason": gate.report.counts_by_reason(),
    }
    held_ids = markdown_table([{"hub_id": w.hub_id, "rules": "; ".join(sorted(rules.get(w.hub_id, [])))}
                               for w in gate.held], ["hub_id", "rules"])
    return [
        AssetCheckResult(check_name=GATE, passed=not gate.blocked, severity=AssetCheckSeverity.ERROR,
                         description=gate_sentence(gate, threshold), metadata={**counts, "held_back_ids": held_ids}),
        AssetCheckResult(check_name=HELD, passed=not gate.held, severity=AssetCheckSeverity.WARN,
                         description=held_sentence(gate, source),
                         metadata={"held_back": len(gate.held), "counts_by_reason": counts["counts_by_reason"],
                                   "held_back_ids": held_ids}),
    ]
