"""`python -m pipelines.fast_daemon <seconds> [--dequeue-seconds S] [--warm] run -w workspace.yaml`:
dagster-daemon with shorter loops, optionally warming the run code.

Dagster's sensor daemon evaluates all sensors, then sleeps until 5 s have passed since the loop
began (dagster._daemon.sensor.MIN_INTERVAL_LOOP_TIME, not exposed in dagster.yaml). For webhook
latency that fixed wait is most of the budget; this wrapper sets it before the daemon starts
(`<seconds>` 0 keeps the stock loop). It touches private Dagster constants, so it lives in the
Dagster layer (pipelines/), never in the engine, and it is opt-in
(`ledgerbridge serve --sensor-loop-seconds 1`) and checked: if the constant disappears in a Dagster
upgrade, it says so and runs the stock daemon.

--dequeue-seconds: the run queue's loop (dagster.yaml's dequeue_interval_seconds is a whole number
  of seconds, at least 1); Dagster's interval daemons wait in steps of 0.5 s, so 0.5 is the floor.
--warm: for in-process runs (SyncInMemoryRunLauncher executes them in this process), import the
  code location and evaluate each entity's quality suite once before the daemon starts (5-20 s;
  events arriving meanwhile wait in the inbox), so the first run does not pay for loading Great
  Expectations (about 10 s of its quality-gate step).
"""

from __future__ import annotations

import sys
import time


def warm() -> None:
    """Import what a run imports and run the quality suites once (errors are reported, not raised)."""
    started = time.monotonic()
    try:
        import pipelines.definitions as definitions  # the module in-process runs load their job from
        from ledgerbridge.quality.suites import warm as warm_suite
        from ledgerbridge.sync.engine import enabled_entities
        from ledgerbridge.systems import build_connector

        config = definitions.load_config(definitions.config_path())
        entities = enabled_entities(config)
        for system in (config.erp, config.crm):  # the plan assets' gates: the target's own limits
            connector = build_connector(system)
            try:
                for entity in entities:
                    warm_suite(entity, connector.system, connector.limits(entity))
            finally:
                connector.close()
        print(f"pipelines.fast_daemon: run code warm in {time.monotonic() - started:.1f} s", file=sys.stderr)
    except Exception as exc:  # noqa: BLE001 - warming is an optimisation; the first run pays instead
        print(f"pipelines.fast_daemon: warming failed ({exc!r}); the first run loads everything", file=sys.stderr)


def shorter_dequeue_loop(seconds: float) -> None:
    from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

    original = QueuedRunCoordinatorDaemon.__init__

    def __init__(self, interval_seconds, *args, **kwargs):
        original(self, min(float(interval_seconds), seconds), *args, **kwargs)

    QueuedRunCoordinatorDaemon.__init__ = __init__


def main() -> None:
    args = sys.argv[1:]
    seconds = float(args.pop(0))
    dequeue, warm_up = None, False
    while args and args[0].startswith("--"):
        option = args.pop(0)
        if option == "--dequeue-seconds":
            dequeue = float(args.pop(0))
        elif option == "--warm":
            warm_up = True
        else:
            raise SystemExit(f"pipelines.fast_daemon: unknown option {option}")
    import dagster._daemon.sensor as sensor_daemon

    if not seconds:
        pass
    elif hasattr(sensor_daemon, "MIN_INTERVAL_LOOP_TIME"):
        sensor_daemon.MIN_INTERVAL_LOOP_TIME = seconds
    else:
        print("pipelines.fast_daemon: this Dagster has no MIN_INTERVAL_LOOP_TIME; running the stock loop", file=sys.stderr)
    if dequeue:
        shorter_dequeue_loop(dequeue)
    if warm_up:
        # Before the daemon, not beside it: imports in a second thread raced the daemon's own
        # (sqlalchemy.orm seen partially initialised, the daemon died at start-up).
        warm()
    from dagster._daemon.cli import main as daemon_main

    sys.argv = ["dagster-daemon", *args]
    daemon_main()


if __name__ == "__main__":
    main()
