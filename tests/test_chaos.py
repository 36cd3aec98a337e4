"""The short, seeded chaos run: 20% faults on every call (before and after the system acted), edits on
both sides also while a sync runs, a sync killed with SIGKILL mid-run; then, with faults off, the
promise: nothing lost, nothing twice, nothing open, and a sync that writes nothing.
The long run with more kills is benchmarks/chaos.py."""

from __future__ import annotations

from ledgerbridge.faults.chaos import ChaosSettings, run_chaos


def test_the_sync_converges_under_faults_kills_and_concurrent_edits(tmp_path):
    report = run_chaos(ChaosSettings(workdir=tmp_path, records=10, rounds=3, edits_per_round=10,
                                     concurrent_edits=5, fault_rate=0.2, kills=1, seed=7))
    summary = "\n".join(report.lines())
    assert sum(v for k, v in report.faults.items() if k != "none") > 0, summary  # the storm happened
    assert report.concurrent_edits > 0, summary
    assert report.lost == [], summary
    # A change landing in the instant between our read and our write of the same field cannot be
    # protected without conditional writes, which these APIs lack; it stays a rare exception.
    assert len(report.lost_in_flight) <= 1, summary
    assert report.duplicates == [] and report.missing == [], summary
    assert report.disagreements == [], summary
    assert report.open_rows == [] and report.unexplained_rows == [], summary
    assert report.second_sync_writes == 0, summary
