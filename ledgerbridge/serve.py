"""`ledgerbridge serve` and `ledgerbridge webhooks`: the near-real-time set-up on one machine.

serve runs, together and until Ctrl-C or SIGTERM (both stop every child):
- the webhook receiver (uvicorn, in this process) on --hooks-port,
- the review console (ledgerbridge.console, in this process) on --console-port, when its token is set,
- the Dagster webserver (UI) and the Dagster daemon (sensors, schedules, run queue) as child
  processes, over a persistent DAGSTER_HOME (<workdir>/dagster_home, SQLite storage),
- the warm worker (pipelines.warm_worker) as a third child: it applies webhook events from the
  inbox in process, seconds after they arrive, and records what it did in the same Dagster instance
  (--no-worker leaves them to the inbox sensor and ordinary runs),
- without --config: the embedded default, i.e. the demo's emulated webCRM and e-conomic (seeded on
  the first start, kept in <workdir>) with webhooks configured on both;
and registers ledgerbridge's hooks with the systems once the receiver answers (idempotent).

The Dagster instance it writes (dagster.yaml) queues runs with a one-second dequeue and at most one
run per entity (tag ledgerbridge/entity). Runs and the worker's bursts also hold the entity's lease
in the hub (ledgerbridge.leases), so no two of them ever sync the same entity at once. Everything
here uses Dagster's public, configurable interfaces (see docs/serve.md).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import yaml

from ledgerbridge.config import SyncConfig, load_config
from ledgerbridge.loopback import ThreadedServer
from ledgerbridge.store import HubStore
from ledgerbridge.webhooks.inbox import WORKER_VARIABLE

log = logging.getLogger("ledgerbridge.serve")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEMO_WEBHOOK_SECRETS = {"WEBCRM_WEBHOOK_TOKEN": "webhook_token", "ECONOMIC_WEBHOOK_SECRET": "webhook_secret"}
MARKER = "# written by `ledgerbridge serve`"


def dagster_yaml(home: Path, *, max_concurrent_runs: int = 4) -> str:
    return f"""{MARKER}; remove this line to keep your own changes
storage:
  sqlite:
    base_dir: {home / 'storage'}
run_coordinator:
  module: dagster.core.run_coordinator
  class: QueuedRunCoordinator
  config:
    max_concurrent_runs: {max_concurrent_runs}
    dequeue_interval_seconds: 1
    dequeue_use_threads: true
    tag_concurrency_limits:
      - key: ledgerbridge/entity
        value:
          applyLimitPerUniqueValue: true
        limit: 1
sensors:
  use_threads: true
  num_workers: 4
schedules:
  use_threads: true
  num_workers: 2
telemetry:
  enabled: false
"""


def prepare_dagster_home(home: Path) -> Path:
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    # Ours (marked) or empty (what older demos left) is rewritten; a file someone wrote is kept.
    if not config.exists() or not config.read_text().strip() or config.read_text().startswith(MARKER):
        config.write_text(dagster_yaml(home))
    return home


# -- the receiver -------------------------------------------------------------------------------

class Receiver:
    """The webhook receiver, served in a background thread, with its hub store."""

    def __init__(self, config: SyncConfig, host: str, port: int, hub_default: str):
        from ledgerbridge.webhooks.receiver import create_app, settings_from_config

        self.store = HubStore(config.hub.resolved_url(hub_default))
        self.store.create_all()
        self.settings = settings_from_config(config)
        self.http = ThreadedServer(create_app(self.store, self.settings), host=host, port=port, name="the webhook receiver")
        self.host, self.port = self.http.host, self.http.port

    @property
    def url(self) -> str:
        return self.http.url

    def start(self) -> "Receiver":
        self.http.start()
        return self

    def stop(self) -> None:
        self.http.stop()
        self.store.dispose()


# -- the review console ------------------------------------------------------------------------

def console_server(config: SyncConfig, hub_default: str, host: str, port: int) -> tuple[ThreadedServer, HubStore]:
    """The review console over the configured hub; raises ConsoleTokenMissing naming the variable."""
    from ledgerbridge.console import console_token, create_app

    token = console_token()
    store = HubStore(config.hub.resolved_url(hub_default))
    store.create_all()
    systems = {"crm": config.crm.system, "erp": config.erp.system}
    # Secure cookies only when the console is reached over HTTPS (a proxy in front of it).
    app = create_app(store, systems, token, secure_cookie=os.environ.get("LEDGERBRIDGE_CONSOLE_HTTPS") == "1")
    return ThreadedServer(app, host=host, port=port, name="the review console"), store


# -- dagster processes ----------------------------------------------------------------------------

def daemon_command() -> list[str]:
    """`dagster-daemon run` (Dagster's command, installed beside this interpreter) over the project's workspace."""
    beside = Path(sys.executable).with_name("dagster-daemon")
    command = str(beside) if beside.exists() else shutil.which("dagster-daemon") or "dagster-daemon"
    return [command, "run", "-w", str(PROJECT_ROOT / "workspace.yaml")]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "pipelines.warm_worker"]


def create_storage(env: dict[str, str]) -> None:
    """On a new Dagster home, create the instance's storage once (`dagster instance migrate`), before
    the daemon, webserver and worker start: each would create it too, and three processes stamping
    the same new SQLite schema version at once can fail one of them."""
    home = Path(env["DAGSTER_HOME"])
    if (home / "storage").exists():
        return
    subprocess.run([sys.executable, "-m", "dagster", "instance", "migrate"], env=env, cwd=PROJECT_ROOT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def start_dagster(env: dict[str, str], *, ui_host: str, ui_port: int | None, worker: bool = True) -> list[subprocess.Popen]:
    """The daemon, the webserver (unless ui_port is None) and the warm worker (unless `worker` is false).
    With the worker, the inbox sensor starts stopped (ledgerbridge.webhooks.inbox.WORKER_VARIABLE)."""
    if worker:
        env = {**env, WORKER_VARIABLE: "1"}
    create_storage(env)
    # Each in a process group of its own: stopping it can then also end what it started (code servers).
    processes = [subprocess.Popen(daemon_command(), env=env, cwd=PROJECT_ROOT, start_new_session=True)]
    if worker:
        processes.append(subprocess.Popen(worker_command(), env=env, cwd=PROJECT_ROOT, start_new_session=True))
    if ui_port is not None:
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-w", str(PROJECT_ROOT / "workspace.yaml"),
             "-h", ui_host, "-p", str(ui_port)], env=env, cwd=PROJECT_ROOT, start_new_session=True))
    return processes


def execute_job(env: dict[str, str], job: str, *, quiet: bool = True) -> bool:
    """Run `job` of the code location once, recorded in env's DAGSTER_HOME (so the UI shows the run,
    its materialisations and checks); whether it succeeded."""
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions", "-j", job]
    output = subprocess.DEVNULL if quiet else None
    return subprocess.run(command, env=env, cwd=PROJECT_ROOT, stdout=output, stderr=output).returncode == 0


def stop_processes(processes: list[subprocess.Popen], timeout: float = 20) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.wait()


def _kill_group(process: subprocess.Popen) -> None:
    """Kill a process that did not stop, with its own process group when it leads one."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
            return
    except ProcessLookupError:
        return
    process.kill()


# -- configuration -------------------------------------------------------------------------------

@contextlib.contextmanager
def demo_systems(workdir: Path, companies: int) -> Iterator[Path]:
    """The embedded default: the demo's emulators (with webhooks) and a config naming them."""
    from ledgerbridge.demo.run import DEMO_SECRETS, demo_config, emulators

    os.environ.update({k: os.environ.get(k, v) for k, v in DEMO_SECRETS.items()})
    for env in DEMO_WEBHOOK_SECRETS:  # fresh secrets per start unless given; hooks are re-registered
        os.environ.setdefault(env, secrets.token_urlsafe(32))
    with emulators(workdir, companies) as (webcrm, economic, _fresh):
        data = demo_config(workdir, webcrm.base_url, economic.base_url)
        data["crm"]["secrets"]["webhook_token"] = "WEBCRM_WEBHOOK_TOKEN"
        data["erp"]["secrets"]["webhook_secret"] = "ECONOMIC_WEBHOOK_SECRET"
        path = workdir / "config.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        yield path


def _hub_default(config_path: Path) -> str:
    return f"sqlite:///{(config_path.parent / 'hub.db').resolve()}"


def register(config: SyncConfig, public_url: str) -> None:
    from ledgerbridge.webhooks.register import register_hooks

    try:
        for r in register_hooks(config, public_url):
            print(f"  webhook {r.system}/{r.entity}: {r.action} -> {r.url}")
    except Exception as exc:  # noqa: BLE001 - the probes and schedules still work without hooks
        print(f"  ! could not register webhooks ({exc}); changes are picked up by the probes and schedules")


# -- commands ---------------------------------------------------------------------------------------

def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--console-host", default="127.0.0.1", help="where the review console listens")
    parser.add_argument("--console-port", type=int, default=8790, help="the review console's port")


def add_arguments(serve: argparse.ArgumentParser, webhooks: argparse.ArgumentParser, default_workdir: Path) -> None:
    add_console_arguments(serve)
    serve.add_argument("--no-console", action="store_true", help="do not serve the review console")
    for p in (serve, webhooks):
        p.add_argument("--hooks-host", default="127.0.0.1", help="where the webhook receiver listens")
        p.add_argument("--hooks-port", type=int, default=8788)
        p.add_argument("--public-url", default=os.environ.get("LEDGERBRIDGE_WEBHOOK_PUBLIC_URL"),
                       help="the receiver's URL as the systems reach it (default: http://host:port)")
        p.add_argument("--no-register", action="store_true", help="do not register hooks with the systems")
    webhooks.add_argument("--config", default=os.environ.get("LEDGERBRIDGE_CONFIG", str(default_workdir / "config.yaml")))
    serve.add_argument("--workdir", type=Path, default=default_workdir, help="emulators, hub, config and DAGSTER_HOME")
    serve.add_argument("--config", default=None, help="a sync configuration (default: the embedded demo with emulators)")
    serve.add_argument("--companies", type=int, default=300, help="companies the emulators are seeded with")
    serve.add_argument("--ui-host", default="127.0.0.1")
    serve.add_argument("--ui-port", type=int, default=3000)
    serve.add_argument("--no-ui", action="store_true", help="daemon and receiver only")
    serve.add_argument("--no-worker", action="store_true",
                       help="no warm worker: webhook events launch ordinary runs through the inbox sensor (slower)")


def run_webhooks(args: argparse.Namespace) -> int:
    config_path = Path(args.config)
    config = load_config(config_path)
    receiver = Receiver(config, args.hooks_host, args.hooks_port, _hub_default(config_path)).start()
    print(f"webhook receiver on {receiver.url} for {', '.join(sorted(receiver.settings.secrets)) or 'no system'}")
    if not args.no_register:
        register(config, args.public_url or receiver.url)
    try:
        with terminate_as_interrupt():
            while receiver.http.thread.is_alive():
                receiver.http.thread.join(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


def start_console(config: SyncConfig, config_path: Path, host: str, port: int,
                  stack: contextlib.ExitStack) -> None:
    """The console for serve, stopped with `stack`: off, with a sentence saying how to switch it on,
    when no token is set."""
    from ledgerbridge.console.auth import ConsoleTokenMissing

    try:
        server, store = console_server(config, _hub_default(config_path), host, port)
    except ConsoleTokenMissing as exc:
        print(f"review console off: {exc}")
        return
    stack.callback(store.dispose)
    server.start()
    stack.callback(server.stop)
    print(f"review console: {server.url}  (log in with the token from its environment variable)")


def run_console(args: argparse.Namespace) -> int:
    """`ledgerbridge console`: the review console alone, until Ctrl-C or SIGTERM."""
    from ledgerbridge.console.auth import ConsoleTokenMissing

    config_path = Path(args.config)
    config = load_config(config_path)
    try:
        server, store = console_server(config, _hub_default(config_path), args.console_host, args.console_port)
    except ConsoleTokenMissing as exc:
        print(f"ledgerbridge console: {exc}", file=sys.stderr)
        return 2
    server.start()
    print(f"review console: {server.url}  (Ctrl-C stops it)")
    try:
        with terminate_as_interrupt():
            while server.thread.is_alive():
                server.thread.join(timeout=1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        store.dispose()
    return 0


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (what systemd and containers send) stops like Ctrl-C, so every child is stopped too."""
    def interrupt(signum, frame):  # noqa: ANN001
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean-up short
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_serve(args: argparse.Namespace) -> int:
    """Until Ctrl-C or SIGTERM; either way the receiver, console, daemon and webserver all stop."""
    try:
        with terminate_as_interrupt():
            return _serve(args)
    except KeyboardInterrupt:
        return 0


def _serve(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    home = prepare_dagster_home(workdir / "dagster_home")
    with contextlib.ExitStack() as stack:
        if args.config:
            config_path = Path(args.config)
        else:
            config_path = stack.enter_context(demo_systems(workdir, args.companies))
        config = load_config(config_path)
        receiver = Receiver(config, args.hooks_host, args.hooks_port, _hub_default(config_path)).start()
        stack.callback(receiver.stop)
        print(f"webhook receiver: {receiver.url}  (systems: {', '.join(sorted(receiver.settings.secrets)) or 'none'})")
        if not args.no_register:
            register(config, args.public_url or receiver.url)
        if not args.no_console:
            start_console(config, config_path, args.console_host, args.console_port, stack)
        env = {**os.environ, "DAGSTER_HOME": str(home), "LEDGERBRIDGE_CONFIG": str(config_path.resolve())}
        processes = start_dagster(env, ui_host=args.ui_host, ui_port=None if args.no_ui else args.ui_port,
                                  worker=not args.no_worker)
        stack.callback(stop_processes, processes)
        print(f"DAGSTER_HOME: {home}")
        if not args.no_ui:
            print(f"Dagster UI: http://{args.ui_host}:{args.ui_port}   (Ctrl-C stops everything)")
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("ledgerbridge serve: a Dagster process or the warm worker ended; stopping", file=sys.stderr)
        return 1
    return 0


def wait_healthy(url: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} does not answer")
