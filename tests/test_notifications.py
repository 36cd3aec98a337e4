"""Failures reach people, end to end through Dagster: an instance on disk, the sync job run, the
notifier sensors evaluated tick by tick as the daemon does (the code location's own definitions and
resources), a webhook receiver (HTTP) and a mail server (SMTP, aiosmtpd) on loopback, and the hub's
record the console shows. A mass corruption fails the gate; every channel says why in one sentence."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
import yaml
from dagster import build_sensor_context, instance_for_test
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from stdnum.dk import cvr

from conftest import make_config
from ledgerbridge.loopback import ThreadedServer
from ledgerbridge.notify import journal
from ledgerbridge.store import T, HubStore
from ledgerbridge.sync.gate import release_blocks
from mail_receiver import start_receiver
from pipelines.definitions import build_definitions
from test_dagster_checks import BROKEN, COMPANIES

SMTP_USER, SMTP_PASSWORD = "ledgerbridge-mailer", "smtp-password-never-shown"
HOOK_TOKEN = "secret-token-in-the-url"
GATE_WHY = ("Push to economic blocked: 100% of 25 planned debtors newly failed the checks (threshold 20%), which "
            "looks like a mass corruption upstream; fix the source data (see counts_by_reason), then run again.")


@pytest.fixture
def receiver():
    received: list[dict] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    server = ThreadedServer(Starlette(routes=[Route("/hooks/{token}", hook, methods=["POST"])]), name="receiver").start()
    yield server.url, received
    server.stop()


@pytest.fixture
def mail_server(tmp_path, monkeypatch):
    monkeypatch.setenv("LB_TEST_SMTP_USER", SMTP_USER)
    monkeypatch.setenv("LB_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    server, controller = start_receiver(tmp_path, security="starttls", login=(SMTP_USER, SMTP_PASSWORD))
    yield server
    controller.stop()


def mass_corruption(webcrm) -> list[str]:
    """25 companies with invalid VAT numbers; their names and numbers (what must never be told)."""
    invalid = [n for n in range(13585600, 13585700) if not cvr.is_valid(str(n))][:25]
    records = [{**BROKEN, "name": f"{word} A/S", "postcode": str(1000 + 100 * i), "vat_number": f"DK{n}"}
               for i, (word, n) in enumerate(zip(COMPANIES, invalid))]
    webcrm.seed("debtors", records)
    return [r["name"] for r in records] + [str(n) for n in invalid]


def notifying_config(tmp_path, webcrm, economic, notify: dict) -> tuple[dict, object]:
    data = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump(mode="json")
    data["notify"] = notify
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return data, build_definitions(path)


class Ticks:
    """The notifier sensors of a code location, evaluated one tick at a time with their cursors kept."""

    def __init__(self, defs, instance, *, with_resources: bool = True):
        self.repo, self.instance = defs.get_repository_def(), instance
        self.resources = defs.resources if with_resources else None
        self.cursors: dict[str, str | None] = {}

    def __call__(self, name: str):
        context = build_sensor_context(instance=self.instance, cursor=self.cursors.get(name),
                                       repository_def=self.repo, resources=self.resources)
        result = self.repo.get_sensor_def(name).evaluate_tick(context)
        self.cursors[name] = result.cursor
        return result

    def all(self):
        return [self(name) for name in ("notify_run_failure", "notify_run_success", "notify_check_failure")]


def test_a_mass_corruption_is_told_by_webhook_and_e_mail_with_its_reason_once_and_shown_until_resolved(
        tmp_path, monkeypatch, webcrm, economic, secrets_env, receiver, mail_server):
    url, hooked = receiver
    monkeypatch.setenv("LB_TEST_NOTIFY_URL", f"{url}/hooks/{HOOK_TOKEN}")
    data, defs = notifying_config(tmp_path, webcrm, economic, {
        "webhook_url_env": "LB_TEST_NOTIFY_URL",
        "email": {"host": mail_server.host, "port": mail_server.port, "security": "starttls",
                  "sender": "sync@example.com", "recipients": ["ops@example.com"], "ca_file": str(mail_server.ca_file),
                  "username_env": "LB_TEST_SMTP_USER", "password_env": "LB_TEST_SMTP_PASSWORD"},
        "console_url": "https://sync.example.com/console", "dagster_url": "https://sync.example.com/dagster"})
    hub = HubStore(data["hub"]["url"])
    companies = mass_corruption(webcrm)
    sync = defs.resolve_job_def("sync_debtors")

    (tmp_path / "dagster").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        ticks = Ticks(defs, instance)
        ticks.all()  # the daemon's first ticks: run sensors start from now
        failed = sync.execute_in_process(instance=instance, raise_on_error=False)
        assert not failed.success
        ticks.all()

        by_kind = {(m["kind"], m["details"].get("check", "").rpartition(":")[2]): m for m in hooked}
        assert set(by_kind) == {("run_failure", ""), ("check_failure", "quality_gate"), ("check_failure", "held_back")}
        gate = by_kind["check_failure", "quality_gate"]
        assert GATE_WHY in gate["text"] and gate["details"]["newly_bad_share"] == 1.0 and gate["details"]["threshold"] == 0.2
        assert gate["links"] == {"Console": "https://sync.example.com/console/notifications",
                                 "Dagster run": f"https://sync.example.com/dagster/runs/{failed.run_id}"}
        assert "25 debtors are held back from economic" in by_kind["check_failure", "held_back"]["text"]
        run = by_kind["run_failure", ""]
        assert run["text"].startswith(f"ledgerbridge: run {failed.run_id[:8]} of sync_debtors failed. {GATE_WHY}")
        assert "Traceback" not in run["text"]

        mails = {m.message["Subject"]: m for m in mail_server.received}
        assert len(mail_server.received) == 3 and mail_server.logins == [SMTP_USER] * 3
        [gate_mail] = [m for s, m in mails.items() if s.endswith(":quality_gate failed")]
        body = gate_mail.message.get_content()
        assert GATE_WHY in body.splitlines()[0] and "newly_bad_share: 1.0" in body
        assert f"Dagster run: https://sync.example.com/dagster/runs/{failed.run_id}" in body
        assert gate_mail.recipients == ["ops@example.com"]

        # The stop holds on the next run and the records stay held: nobody is told again.
        hooked.clear()
        assert not sync.execute_in_process(instance=instance, raise_on_error=False).success
        ticks.all()
        assert hooked == [] and len(mail_server.received) == 3

        # A person releases the stop: the run succeeds and the gate passes, so both are told resolved;
        # the 25 records are still held back, so that stays open.
        release_blocks(hub, "debtors", "economic", "a person who checked")
        assert sync.execute_in_process(instance=instance, raise_on_error=False).success
        ticks.all()
    assert sorted(m["kind"] for m in hooked) == ["check_recovered", "run_recovered"]
    assert len(mail_server.received) == 5

    with hub.connect() as conn:
        entries = journal.entries(conn)
        rows = conn.execute(sa.select(T["notifications"])).mappings().all()
    assert {(e.kind, e.about.rpartition(":")[2], e.status) for e in entries} == {
        ("check_failure", "held_back", "open"), ("check_failure", "quality_gate", "resolved"),
        ("run_failure", "job sync_debtors", "resolved")}
    assert [e.opened_at for e in entries] == sorted((e.opened_at for e in entries), reverse=True)  # newest first
    run_entry = next(e for e in entries if e.kind == "run_failure")
    assert run_entry.repeats == 1 and run_entry.resolution.startswith("ledgerbridge: sync_debtors succeeds again")
    assert all(state == "sent" for e in entries for states in e.delivery.values() for state in states.values())

    # Nothing personal and no secret in any message or in the hub's record of them.
    told = "".join([json.dumps(hooked), *(m.raw.decode() for m in mail_server.received),
                    json.dumps([dict(r) for r in rows], default=str)])
    for secret in (HOOK_TOKEN, SMTP_PASSWORD, SMTP_USER, *companies):
        assert secret not in told


def test_without_notify_configured_there_are_no_notifier_sensors(tmp_path, webcrm, economic, secrets_env):
    data = make_config(webcrm.base_url, economic.base_url, f"sqlite:///{tmp_path / 'hub.db'}").model_dump(mode="json")
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    assert not {s.name for s in build_definitions(path).sensors} & {"notify_run_failure", "notify_check_failure",
                                                                   "notify_run_success"}
