"""`ledgerbridge demo --erp uniconta`: webCRM <-> Uniconta emulated, seeded in each system's own shape."""

from __future__ import annotations

import json

from ledgerbridge.demo.run import run_demo


def demo_json(workdir, capsys) -> dict:
    assert run_demo(workdir, companies=40, as_json=True, erp="uniconta") == 0
    return json.loads(capsys.readouterr().out)


def test_the_uniconta_demo_moves_what_uniconta_holds_and_a_second_run_writes_nothing(tmp_path, capsys):
    first = demo_json(tmp_path, capsys)

    assert first["seeded"] is True
    assert set(first["entities"]) >= {"debtors", "contacts", "items"}
    for name in ("debtors", "contacts", "items"):
        assert first["entities"][name]["created"] > 0, name
    held = first["entities"]["debtors"]["held_back_records"]
    assert held and all(r["target"] == "uniconta" and r["reasons"] for r in held)
    assert (tmp_path / "uniconta.json").exists()

    second = demo_json(tmp_path, capsys)

    assert second["seeded"] is False
    for name, counts in second["entities"].items():
        assert (counts["created"], counts["updated"], counts["failed"]) == (0, 0, []), name
