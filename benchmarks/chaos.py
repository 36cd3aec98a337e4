"""The long chaos run (issue 10): faults on ~20% of calls, random edits on both sides (also while a
sync runs), `ledgerbridge sync` killed with SIGKILL mid-run in several rounds, then faults off and the
promise checked. Prints the figures; run by hand:

    .venv/bin/python benchmarks/chaos.py --rounds 16 --kills 12 --records 60 --seed 1
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ledgerbridge.faults.chaos import ChaosSettings, run_chaos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=60, help="records per side at the start")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--edits-per-round", type=int, default=40)
    parser.add_argument("--concurrent-edits", type=int, default=15, help="per round, while the sync runs")
    parser.add_argument("--new-records", type=int, default=3, help="per side and round")
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ledgerbridge-chaos-") as workdir:
        report = run_chaos(ChaosSettings(
            workdir=Path(workdir), records=args.records, rounds=args.rounds, edits_per_round=args.edits_per_round,
            concurrent_edits=args.concurrent_edits, new_records_per_round=args.new_records, kills=args.kills,
            fault_rate=args.fault_rate, seed=args.seed))
    print(f"chaos run, seed {args.seed}, {time.monotonic() - started:.0f} s")
    for line in report.lines():
        print("  " + line)
    for title, items in (("lost", report.lost), ("overwritten in flight", report.lost_in_flight),
                         ("duplicates", report.duplicates), ("missing", report.missing),
                         ("disagreeing", report.disagreements), ("open", report.open_rows)):
        for item in items[:20]:
            print(f"  {title}: {item}")
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
