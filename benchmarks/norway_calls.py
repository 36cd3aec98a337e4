"""Remote calls of a TribeCRM <-> PowerOffice Go sync, by hand: `python benchmarks/norway_calls.py`.

Prints, for a first sync of N new Tribe customers (created in Go, Go's number written back), for one
changed record on each side, for an address-only change in Go, and for a sync with nothing to do:
the calls each emulator received (token calls apart) and the wall time.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from norway_fixtures import PO_ENV, PO_KEYS, TRIBE_ENV, TRIBE_KEYS, norway_config  # noqa: E402
from sync_helpers import engine_for  # noqa: E402

from ledgerbridge.store import HubStore  # noqa: E402
from ledgerbridge.systems.poweroffice.emulator import PowerOfficeEmulator  # noqa: E402
from ledgerbridge.systems.tribecrm.emulator import CUSTOMER, ORGANIZATION, TribeCrmEmulator  # noqa: E402

TOKEN_PATHS = ("/OAuth/Token", "/oauth2/token")


def calls(emulator, since: int) -> Counter:
    return Counter(f"{m} {p.split('(')[0].rstrip('/0123456789')}" for m, p in emulator.request_log[since:] if p not in TOKEN_PATHS)


def measure(label: str, tribe, go, store, config) -> None:
    marks = len(tribe.request_log), len(go.request_log)
    started = time.perf_counter()
    engine = engine_for(config, store)
    engine.run()
    for connector in engine.connectors.values():
        connector.close()
    tribe_calls, go_calls = calls(tribe, marks[0]), calls(go, marks[1])
    print(f"{label}: {sum(tribe_calls.values())} TribeCRM calls, {sum(go_calls.values())} PowerOffice calls, "
          f"{time.perf_counter() - started:.1f} s")
    for name, count in sorted((tribe_calls + go_calls).items()):
        print(f"    {count:5d}  {name}")


def main(records: int = 50) -> None:
    for name, env in {**PO_ENV, **TRIBE_ENV}.items():
        os.environ[env] = {**PO_KEYS, **TRIBE_KEYS}[name]
    with TribeCrmEmulator(**TRIBE_KEYS) as tribe, PowerOfficeEmulator(**PO_KEYS) as go, tempfile.TemporaryDirectory() as tmp:
        store = HubStore(f"sqlite:///{tmp}/hub.db")
        store.create_all()
        config = norway_config(tribe.base_url, go.base_url, entities={"debtors": {}})
        orgs = [tribe.insert(CUSTOMER, {"Organization": {"Name": f"Firma {i:03d} AS", "VisitingAddress": {
            "Street": "Storgata", "HouseNumber": str(i + 1), "Postalcode": f"{1000 + i}", "City": f"By {i}"}}},
            fire=False)["Organization"]["ID"] for i in range(records)]
        measure(f"first sync, {records} new Tribe customers", tribe, go, store, config)
        measure("echo sync (reads back our own writes)", tribe, go, store, config)
        measure("no-op sync", tribe, go, store, config)
        tribe.update(ORGANIZATION, orgs[0], {"PhoneNumber": "+47 22 00 00 00"})
        measure("one record changed in TribeCRM", tribe, go, store, config)
        measure("  its echo", tribe, go, store, config)
        customer = go.all_raw("Customers")[1]
        go.change_address("Customers", customer["Id"], City="Bergen")
        measure("one address-only change in PowerOffice", tribe, go, store, config)
        measure("  its echo", tribe, go, store, config)
        measure("no-op sync", tribe, go, store, config)
        store.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
