"""The chaos run: random edits on both sides, faults on every call, kills mid-push, then the
promise checked: nothing lost, nothing twice, nothing left open without a reason, and a sync after
the storm that writes nothing.

Both emulators (webCRM, e-conomic) sit behind fault-injecting proxies (ledgerbridge.faults.proxy).
Records are seeded and edited in each system's own shape, straight in the emulators, the way a
user of that system changes them; the sync sees them only through the connectors. Each edit writes
a value that no other edit writes, so the final state tells which edit survived.

Used by tests/test_chaos.py (short, seeded) and benchmarks/chaos.py (long, prints the figures).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from ledgerbridge.config import load_config
from ledgerbridge.faults.proxy import FaultPlan, FaultProxy
from ledgerbridge.store import T, HubStore, hub
from ledgerbridge.sync.engine import SyncEngine
from ledgerbridge.sync.outbox import OPEN
from ledgerbridge.systems import build_connector
from ledgerbridge.systems.economic.emulator import EconomicEmulator
from ledgerbridge.systems.webcrm.emulator import WebcrmEmulator

SECRETS = {"LB_CHAOS_WEBCRM_KEY": "chaos-webcrm-key", "LB_CHAOS_ECONOMIC_SECRET": "chaos-secret",
           "LB_CHAOS_ECONOMIC_GRANT": "chaos-grant"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
# field -> (webCRM property, e-conomic property); both owned by the CRM in the model
EDITABLE = {"city": ("OrganisationCity", "city"), "phone": ("OrganisationTelephone", "telephoneAndFaxNumber")}


@dataclass
class ChaosSettings:
    workdir: Path
    records: int = 20  # per side at the start
    rounds: int = 4
    edits_per_round: int = 15
    concurrent_edits: int = 6  # per round, made while the sync runs
    new_records_per_round: int = 2  # per side
    fault_rate: float = 0.2
    kills: int = 2  # rounds whose sync runs as a separate process, killed with SIGKILL mid-run
    seed: int = 1
    timeout_seconds: float = 1.0  # the connectors' call timeout (a "timeout after" fault waits longer)


@dataclass
class Edit:
    seq: int
    side: str  # crm | erp
    name: str  # the company, the same on both sides (names are never edited)
    field: str
    value: str
    concurrent: bool = False  # made while a sync ran


@dataclass
class ChaosReport:
    edits: int = 0
    concurrent_edits: int = 0
    new_records: int = 0
    faults: Counter = field(default_factory=Counter)
    calls: int = 0
    kills: int = 0
    catch_up_syncs: int = 0
    lost: list[str] = field(default_factory=list)
    # Edits made while a sync ran that our write to the same field overwrote in the instant between its
    # read and its write: these APIs have no conditional write (no ETag/If-Match), so that window can
    # only be kept short (the write guard re-reads right before writing), not closed.
    lost_in_flight: list[str] = field(default_factory=list)
    explained_by_conflict: int = 0
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    open_rows: list[str] = field(default_factory=list)
    unexplained_rows: list[str] = field(default_factory=list)
    second_sync_writes: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicates or self.missing or self.disagreements or self.open_rows
                    or self.unexplained_rows or self.second_sync_writes)

    def lines(self) -> list[str]:
        injected = sum(v for k, v in self.faults.items() if k != "none")
        return [
            f"edits                 {self.edits} ({self.concurrent_edits} while a sync ran), new records {self.new_records}",
            f"calls through proxies {self.calls}, faults injected {injected} "
            f"({', '.join(f'{k} {v}' for k, v in sorted(self.faults.items()) if k != 'none')})",
            f"kills (SIGKILL)       {self.kills}",
            f"catch-up syncs        {self.catch_up_syncs} (faults off)",
            f"lost edits            {len(self.lost)} (of {self.edits}; {self.explained_by_conflict} overruled by their "
            f"field's owner, recorded in conflicts)",
            f"  overwritten in flight {len(self.lost_in_flight)} (of {self.concurrent_edits} made while a sync ran: "
            "landed between our read and our write of the same field)",
            f"duplicates            {len(self.duplicates)}",
            f"missing on a side     {len(self.missing)}",
            f"sides disagreeing     {len(self.disagreements)}",
            f"open outbox rows      {len(self.open_rows)}",
            f"rows without reason   {len(self.unexplained_rows)}",
            f"writes of the sync after the storm: {self.second_sync_writes}",
        ]


class Chaos:
    def __init__(self, settings: ChaosSettings):
        self.s = settings
        self.random = random.Random(settings.seed)
        self.report = ChaosReport()
        self.edits: list[Edit] = []
        self.names: list[str] = []
        self._seq = 0
        self._lock = threading.Lock()
        os.environ.update(SECRETS)
        self.webcrm = WebcrmEmulator(api_keys=(SECRETS["LB_CHAOS_WEBCRM_KEY"],))
        self.economic = EconomicEmulator(app_secret_token=SECRETS["LB_CHAOS_ECONOMIC_SECRET"],
                                         agreement_grant_token=SECRETS["LB_CHAOS_ECONOMIC_GRANT"])
        self.plans = {"crm": FaultPlan(seed=settings.seed, timeout_seconds=settings.timeout_seconds + 1.0),
                      "erp": FaultPlan(seed=settings.seed + 1, timeout_seconds=settings.timeout_seconds + 1.0)}

    # -- set-up ---------------------------------------------------------------------------------
    def __enter__(self) -> "Chaos":
        self.webcrm.start()
        self.economic.start()
        self.proxies = {"crm": FaultProxy(self.webcrm.base_url, self.plans["crm"]),
                        "erp": FaultProxy(self.economic.base_url, self.plans["erp"])}
        for proxy in self.proxies.values():
            proxy.start()
        self.s.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.s.workdir / "chaos.yaml"
        self.config_path.write_text(yaml.safe_dump(self._config()))
        self.config = load_config(self.config_path)
        self.store = HubStore(self.config.hub.url)
        self.store.create_all()
        return self

    def __exit__(self, *exc: object) -> None:
        for proxy in self.proxies.values():
            proxy.stop()
        self.webcrm.stop()
        self.economic.stop()
        self.store.dispose()

    def _config(self) -> dict[str, Any]:
        timeout = self.s.timeout_seconds
        return {
            "crm": {"system": "webcrm", "base_url": self.proxies["crm"].base_url, "timeout_seconds": timeout,
                    "secrets": {"api_key": "LB_CHAOS_WEBCRM_KEY"}},
            "erp": {"system": "economic", "base_url": self.proxies["erp"].base_url, "timeout_seconds": timeout,
                    "secrets": {"app_secret_token": "LB_CHAOS_ECONOMIC_SECRET",
                                "agreement_grant_token": "LB_CHAOS_ECONOMIC_GRANT"}},
            "hub": {"url": f"sqlite:///{self.s.workdir / 'hub.db'}"},
            "retries": {"first_delay_seconds": 0, "lookup_grace_seconds": 0},
            "quality": {"block_min_records": 1000},
            "entities": {"debtors": {"erp_defaults": {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}}},
        }

    def _next(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def _company(self) -> tuple[str, str, str]:
        """A name, postcode and city unlike every other record's, so fuzzy duplicate detection (which
        would rightly hold look-alikes back for a person) stays out of this test's way."""
        word = lambda: "".join(self.random.choice("bdfgklmnprstv") + self.random.choice("aeiou") for _ in range(4))  # noqa: E731
        return f"{word().title()} {word().title()}", str(self.random.randint(1000, 9990)), word().title()

    def add_records(self, per_side: int) -> None:
        for _ in range(per_side):
            name, postcode, city = self._company()
            name += " ApS"
            self.webcrm.insert_raw("Organisations", {
                "OrganisationName": name, "OrganisationType": "Customer", "OrganisationCountry": "Denmark",
                "OrganisationCity": city, "OrganisationPostCode": postcode})
            self.names.append(name)
            name, postcode, city = self._company()
            name += " A/S"
            self.economic.insert_raw("customers", {
                "name": name, "country": "Denmark", "city": city, "zip": postcode, "currency": "DKK",
                "customerGroup": {"customerGroupNumber": 1}, "paymentTerms": {"paymentTermsNumber": 1},
                "vatZone": {"vatZoneNumber": 1}})
            self.names.append(name)

    # -- edits ----------------------------------------------------------------------------------
    def _find(self, side: str, name: str) -> Any:
        if side == "crm":
            return next((o["OrganisationId"] for o in self.webcrm.all_raw("Organisations")
                         if o["OrganisationName"] == name), None)
        return next((c["customerNumber"] for c in self.economic.all_raw("customers") if c["name"] == name), None)

    def edit(self, *, concurrent: bool = False) -> None:
        side = self.random.choice(("crm", "erp"))
        name = self.random.choice(self.names)
        key = self._find(side, name)
        if key is None:  # not on that side yet (held back, or its create is under way)
            return
        field_name = self.random.choice(tuple(EDITABLE))
        seq = self._next()
        value = f"City {seq:05d}" if field_name == "city" else f"+45 70 1{seq // 10000 % 10} {seq // 100 % 100:02d} {seq % 100:02d}"
        remote = EDITABLE[field_name][0 if side == "crm" else 1]
        if side == "crm":
            self.webcrm.update_raw("Organisations", key, {remote: value})
        else:
            self.economic.update_raw("customers", key, {remote: value})
        with self._lock:
            self.edits.append(Edit(seq, side, name, field_name, value, concurrent))
            self.report.edits += 1
            self.report.concurrent_edits += concurrent

    # -- syncs ----------------------------------------------------------------------------------
    def faults(self, on: bool) -> None:
        for plan in self.plans.values():
            plan.rate = self.s.fault_rate if on else 0.0

    def sync_in_process(self) -> None:
        connectors = {"crm": build_connector(self.config.crm), "erp": build_connector(self.config.erp)}
        try:
            SyncEngine(self.config, self.store, connectors).run(["debtors"])
        finally:
            for connector in connectors.values():
                connector.close()

    def sync_with_edits_meanwhile(self) -> None:
        done = threading.Event()

        def edit_meanwhile() -> None:
            for _ in range(self.s.concurrent_edits):
                if done.wait(self.random.uniform(0.05, 0.4)):
                    return
                self.edit(concurrent=True)

        editor = threading.Thread(target=edit_meanwhile, daemon=True)
        editor.start()
        try:
            self.sync_in_process()
        finally:
            done.set()
            editor.join()

    def sync_killed(self) -> None:
        """`ledgerbridge sync` in its own process, killed with SIGKILL at a random moment."""
        code = "import sys; from ledgerbridge.cli import main; sys.exit(main(sys.argv[1:]))"
        process = subprocess.Popen(
            [sys.executable, "-c", code, "sync", "--config", str(self.config_path), "--entity", "debtors", "--json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **SECRETS},
        )
        deadline = time.monotonic() + self.random.uniform(2.0, 6.0)  # python start-up takes ~2 s of it
        while time.monotonic() < deadline and process.poll() is None:
            self.edit(concurrent=True) if self.random.random() < 0.3 else None
            time.sleep(0.2)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            self.report.kills += 1
        process.wait()

    def writes(self) -> int:
        return sum(1 for e in (self.webcrm, self.economic) for m, p in e.request_log
                   if m in WRITES and not p.startswith("/Auth"))

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> ChaosReport:
        self.add_records(self.s.records)
        self.sync_in_process()  # the first sync, undisturbed
        kill_rounds = set(self.random.sample(range(self.s.rounds), min(self.s.kills, self.s.rounds)))
        for round_number in range(self.s.rounds):
            self.add_records(self.s.new_records_per_round)
            self.report.new_records += 2 * self.s.new_records_per_round
            for _ in range(self.s.edits_per_round):
                self.edit()
            self.faults(True)
            if round_number in kill_rounds:
                self.sync_killed()
            else:
                self.sync_with_edits_meanwhile()
            self.faults(False)
        for plan in self.plans.values():
            self.report.faults.update(plan.counts)
        self.report.calls = sum(sum(plan.counts.values()) for plan in self.plans.values())
        for _ in range(2):  # the storm is over: catch up
            self.sync_in_process()
            self.report.catch_up_syncs += 1
        before = self.writes()
        self.sync_in_process()
        self.report.second_sync_writes = self.writes() - before
        self.check()
        return self.report

    # -- the promise ------------------------------------------------------------------------------
    def check(self) -> None:
        crm: dict[str, list[dict]] = {}
        erp: dict[str, list[dict]] = {}
        for o in self.webcrm.all_raw("Organisations"):
            crm.setdefault(o["OrganisationName"], []).append(o)
        for c in self.economic.all_raw("customers"):
            erp.setdefault(c["name"], []).append(c)
        for name in self.names:
            for side, found in (("webcrm", crm), ("economic", erp)):
                copies = found.get(name, [])
                if len(copies) > 1:
                    self.report.duplicates.append(f"{name}: {len(copies)} in {side}")
                elif not copies:
                    self.report.missing.append(f"{name}: not in {side}")
        finals: dict[tuple[str, str], str | None] = {}
        for name in self.names:
            if len(crm.get(name, [])) != 1 or len(erp.get(name, [])) != 1:
                continue
            for field_name, (crm_prop, erp_prop) in EDITABLE.items():
                a, b = _comparable(field_name, crm[name][0].get(crm_prop)), _comparable(field_name, erp[name][0].get(erp_prop))
                if a != b:
                    self.report.disagreements.append(f"{name} {field_name}: webcrm {a!r}, economic {b!r}")
                finals[(name, field_name)] = a
        last: dict[tuple[str, str], Edit] = {}
        for edit in sorted(self.edits, key=lambda e: e.seq):
            last[(edit.name, edit.field)] = edit
        conflicts = self._conflicts()
        for (name, field_name), edit in last.items():
            final = finals.get((name, field_name))
            if final == _comparable(field_name, edit.value):
                continue
            overruled = conflicts.get((name, field_name), set())
            if _comparable(field_name, edit.value) in overruled:
                self.report.explained_by_conflict += 1
                continue
            where = self.report.lost_in_flight if edit.concurrent and final is not None else self.report.lost
            where.append(f"{name} {field_name}: last edit {edit.value!r} in the {edit.side}, now {final!r}")
        outbox = T["outbox"]
        with self.store.connect() as conn:
            for row in conn.execute(sa.select(outbox)).mappings():
                if row["status"] in OPEN:
                    self.report.open_rows.append(f"outbox {row['id']} {row['operation']} {row['status']}: {row['last_error']}")
                if row["status"] in ("failed", "obsolete") and not row["last_error"]:
                    self.report.unexplained_rows.append(f"outbox {row['id']} {row['status']} without a reason")

    def _conflicts(self) -> dict[tuple[str, str], set[str]]:
        """(name, field) -> the values that lost a recorded conflict."""
        conflicts, debtors = T["conflicts"], hub("debtors")
        lost: dict[tuple[str, str], set[str]] = {}
        with self.store.connect() as conn:
            query = sa.select(debtors.c.name, conflicts.c.field, conflicts.c.crm_value, conflicts.c.erp_value,
                              conflicts.c.winner).select_from(conflicts.join(debtors, debtors.c.hub_id == conflicts.c.hub_id))
            for name, field_name, crm_value, erp_value, winner in conn.execute(query).tuples():
                loser = erp_value if winner == "crm" else crm_value
                lost.setdefault((name, field_name), set()).add(_comparable(field_name, loser))
        return lost


def _comparable(field_name: str, value: Any) -> str | None:
    if value in (None, ""):
        return None
    text = str(value)
    if field_name == "phone":
        digits = "".join(ch for ch in text if ch.isdigit())
        return digits[-8:]  # +45 86 12 34 56, +4586123456 and 86123456 are one number
    return text


def run_chaos(settings: ChaosSettings) -> ChaosReport:
    with Chaos(settings) as chaos:
        return chaos.run()
