"""`python -m ledgerbridge.fast_daemon <seconds> run -w workspace.yaml`: dagster-daemon with a
shorter sensor loop.

Dagster's sensor daemon evaluates all sensors, then sleeps until 5 s have passed since the loop
began (dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME, not exposed in dagster.yaml). For webhook
latency that fixed wait is most of the budget; this wrapper sets it before the daemon starts.
It touches a private constant, so it is opt-in (`ledgerbridge serve --sensor-loop-seconds 1`) and
checked: if the constant disappears in a Dagster upgrade, it says so and runs the stock daemon.
"""

from __future__ import annotations

import sys


def main() -> None:
    seconds = float(sys.argv[1])
    import dagster._daemon.sensor as sensor_daemon

    if hasattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME"):
        sensor_daemon.MIN_INTERVAL_LOOP_TIME = seconds
    else:
        print("ledgerbridge.fast_daemon: this Dagster has no MIN_INTERVAL_LOOP_TIME; running the stock loop", file=sys.stderr)
    from dagster._daemon.cli import main as daemon_main

    sys.argv = ["dagster-daemon", *sys.argv[2:]]
    daemon_main()


if __name__ == "__main__":
    main()
