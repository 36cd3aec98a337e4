"""`ledgerbridge serve` stopped by SIGTERM (what systemd and containers send) leaves nothing behind:
the daemon, the webserver, the warm worker and whatever they started are gone, and the UI's port is
free again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from conftest import make_config
from ledgerbridge.serve import PROJECT_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc (children of children too)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended while we looked
        if fields[0] != "Z":
            parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_sigterm_stops_serve_and_every_child(tmp_path, webcrm, economic, secrets_env):
    data = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump(mode="json")
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(data))
    ui_port, console_port = free_port(), free_port()
    env = {**os.environ, "LEDGERBRIDGE_CONSOLE_TOKEN": "sigterm-test-token-0123456789"}
    serve = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge.cli", "serve", "--config", str(config), "--workdir", str(tmp_path),
         "--no-register", "--hooks-port", "0", "--ui-port", str(ui_port), "--console-port", str(console_port)],
        env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.err", "w"),
    )
    children: set[int] = set()
    try:
        deadline = time.monotonic() + 120  # the test's own timeout: the webserver loading the code location
        while time.monotonic() < deadline:
            assert serve.poll() is None, f"serve ended on its own: {(tmp_path / 'serve.err').read_text()[-2000:]}"
            try:
                if requests.get(f"http://127.0.0.1:{ui_port}/server_info", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.5)
        assert requests.get(f"http://127.0.0.1:{console_port}/healthz", timeout=5).text == "ok"
        children = descendants(serve.pid)
        assert len(children) >= 3  # the daemon, the webserver, the warm worker (and what they started)
        assert any("pipelines.warm_worker" in command_line(pid) for pid in children)

        serve.send_signal(signal.SIGTERM)

        assert serve.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [pid for pid in children if alive(pid)] == []
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", ui_port))  # the UI's port is free again
    finally:  # leave nothing running when the test fails
        for pid in [serve.pid, *children]:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        serve.wait()
