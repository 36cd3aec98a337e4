"""`python tests/fast_daemon.py <seconds> run -w workspace.yaml`: dagster-daemon with a shorter sensor loop.

A test tool, not part of ledgerbridge: for tests and benchmarks that wait on sensors
(tests/test_tenants_e2e.py, benchmarks/tenants.py). `ledgerbridge serve` does not use it: webhook
latency comes from its warm worker, on public APIs (pipelines/warm_worker.py, docs/serve.md).

Dagster's sensor daemon evaluates all sensors, then sleeps until 5 s have passed since the loop
began (dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME, a private constant, not in dagster.yaml).
This wrapper sets it before the daemon starts (`<seconds>` 0 keeps the stock loop); if a Dagster
upgrade removes the constant, it says so and runs the stock loop.
"""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    seconds = float(args.pop(0))
    import dagster._daemon.sensor as sensor_daemon

    if not seconds:
        pass
    elif hasattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME"):
        sensor_daemon.MIN_INTERVAL_LOOP_TIME = seconds
    else:
        print("fast_daemon: this Dagster has no MIN_INTERVAL_LOOP_TIME; running the stock loop", file=sys.stderr)
    from dagster._daemon.cli import main as daemon_main

    sys.argv = ["dagster-daemon", *args]
    daemon_main()


if __name__ == "__main__":
    main()
