"""`ledgerbridge systems`, `ledgerbridge emulate <system>` and `demo --crm/--erp` against the registry."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys

import pytest

from ledgerbridge.cli import main
from ledgerbridge.config import ConfigError, SystemConfig, parse_config
from ledgerbridge.systems import build_connector


def test_systems_lists_webcrm_and_economic_with_what_each_can_do(capsys):
    assert main(["systems", "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    webcrm, economic = listed["webcrm"], listed["economic"]
    assert webcrm["roles"] == ["crm"] and economic["roles"] == ["erp"]
    assert webcrm["entities"]["debtors"] == {"directions": ["read", "write"], "webhook": True, "probe": True,
                                             "assigns_number": False}
    assert economic["entities"]["debtors"]["assigns_number"] is True
    assert economic["entities"]["contacts"]["webhook"] is False and economic["entities"]["contacts"]["probe"] is False
    assert economic["entities"]["payments"]["directions"] == ["read"]
    assert "demo-app-secret" not in json.dumps(listed)  # credentials are never listed

    assert main(["systems"]) == 0
    text = capsys.readouterr().out
    assert "webcrm (webCRM): crm, webhooks (secret webhook_token), emulator" in text
    assert "economic (e-conomic): erp" in text


def test_the_demo_refuses_a_system_in_the_wrong_role(tmp_path, capsys):
    assert main(["demo", "--workdir", str(tmp_path), "--crm", "economic"]) == 2
    assert "demo --crm economic: e-conomic cannot be the crm (it is a erp)" in capsys.readouterr().err
    assert main(["demo", "--workdir", str(tmp_path), "--erp", "nosuchsystem"]) == 2
    assert "unknown system 'nosuchsystem'" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_emulate_serves_one_seeded_system_until_stopped(monkeypatch):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ledgerbridge.cli", "emulate", "economic", "--port", str(port), "--seed", "3",
         "--companies", "12"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith(f"e-conomic emulator on http://127.0.0.1:{port}"), first
        monkeypatch.setenv("ECONOMIC_APP_SECRET_TOKEN", "demo-app-secret")
        monkeypatch.setenv("ECONOMIC_AGREEMENT_GRANT_TOKEN", "demo-agreement-grant")
        connector = build_connector(SystemConfig(
            system="economic", base_url=f"http://127.0.0.1:{port}",
            secrets={"app_secret_token": "ECONOMIC_APP_SECRET_TOKEN",
                     "agreement_grant_token": "ECONOMIC_AGREEMENT_GRANT_TOKEN"}))
        try:
            debtors = [r for chunk in connector.iter_changed("debtors", None) for r in chunk.records]
            invoices = [r for chunk in connector.iter_changed("invoices", None) for r in chunk.records]
        finally:
            connector.close()
        assert len(debtors) >= 6 and invoices  # the ERP's half of the demo data, in e-conomic's shape
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_a_configuration_names_registered_systems_in_their_roles():
    section = {"base_url": "http://127.0.0.1:1"}
    with pytest.raises(ConfigError, match="crm.system: unknown system 'salesforce'"):
        parse_config({"crm": {**section, "system": "salesforce"}, "erp": {**section, "system": "economic"}})
    with pytest.raises(ConfigError, match=r"e-conomic cannot be the crm \(it is a erp\)"):
        parse_config({"crm": {**section, "system": "economic"}, "erp": {**section, "system": "economic"}})
