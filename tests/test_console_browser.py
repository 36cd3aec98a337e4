"""The review console in a real browser: a person accepts a match, rejects one, dismisses a
duplicate report, and watches a held-back record go once its source is fixed and a sync runs; and
reads what the notifier told about a mass corruption, open and then resolved."""

from __future__ import annotations

import logging
import re

import pytest

from browser import browser, screenshots  # noqa: F401 - the fixture
from conftest import make_config
from ledgerbridge.console import create_app
from ledgerbridge.loopback import ThreadedServer
from sync_helpers import engine_for

TOKEN = "console-test-token-0123456789"
DEFAULTS = {"currency": "DKK", "payment_terms": "1", "customer_group": "1"}
ADDRESS = {"street": "Vestergade", "house_number": "12", "postcode": "8000", "city": "Aarhus", "country": "DK"}
CARPENTER = {"street": "Hovedgaden", "house_number": "4", "postcode": "7400", "city": "Herning", "country": "DK"}


@pytest.fixture
def console(sqlite_store, webcrm, economic, secrets_env):
    config = make_config(webcrm.base_url, economic.base_url, sqlite_store.url, debtors={"erp_defaults": DEFAULTS})
    systems = {"crm": config.crm.system, "erp": config.erp.system}
    server = ThreadedServer(create_app(sqlite_store, systems, TOKEN), name="console").start()
    yield config, server.url
    server.stop()


def test_a_person_works_through_the_review_in_the_browser(console, sqlite_store, webcrm, economic, browser, caplog):  # noqa: F811
    config, url = console
    caplog.set_level(logging.DEBUG, logger="ledgerbridge.console")
    shots = screenshots("console")
    [bakery_crm, *_] = webcrm.seed("debtors", [
        {"name": "BAKERY HANSEN AS", **ADDRESS, "crm_type": "Customer"},
        {"name": "VESTJYSK TOMRER APS", **CARPENTER, "crm_type": "Customer"},
        {"name": "Nordlys Consult ApS", "country": "DK", "vat_number": "DK13585628", "crm_type": "Customer"},
        {"name": "Nordlys Consult", "country": "DK", "vat_number": "13585628", "crm_type": "Customer"},
    ])
    [broken] = webcrm.seed("debtors", [{"name": "Broken Vat A/S", "country": "DK", "vat_number": "DK13585629",
                                        "crm_type": "Customer"}])
    [bakery_erp, _] = economic.seed("debtors", [{"name": "Bakery Hansen A/S", **ADDRESS},
                                                {"name": "Vestjysk Tomrer ApS", **CARPENTER}])
    engine_for(config, sqlite_store).run()

    page = browser.new_page()
    page.goto(url + "/matches")
    assert "/login" in page.url  # nothing without the token
    page.fill("input[name=token]", "not-the-token-at-all")
    page.click("text=Log in")
    assert page.is_visible("text=That is not the console's token.")
    page.fill("input[name=token]", TOKEN)
    page.click("text=Log in")
    assert page.url.endswith("/matches")
    page.screenshot(path=shots / "1-matches.png", full_page=True)

    bakery = page.locator("section.pair", has_text="BAKERY HANSEN AS")
    assert "Bakery Hansen A/S" in bakery.inner_text()  # both records, side by side
    assert re.search(r"names \d+% alike", bakery.locator(".why").inner_text())
    bakery.get_by_role("button", name="Accept").click()
    assert "accepted" in page.locator(".message").inner_text()
    assert page.locator("section.pair", has_text="BAKERY HANSEN AS").count() == 0

    page.locator("section.pair", has_text="VESTJYSK TOMRER APS").get_by_role("button", name="Not the same").click()
    assert "not the same" in page.locator(".message").inner_text()
    assert page.locator("section.pair").count() == 0
    page.screenshot(path=shots / "2-matches-decided.png", full_page=True)

    page.click("nav >> text=Likely duplicates")
    twins = page.locator("section.pair", has_text="Nordlys Consult ApS")
    assert "13585628" in twins.inner_text() and "same vat_number" in twins.inner_text()
    page.screenshot(path=shots / "3-duplicates.png", full_page=True)
    twins.get_by_role("button", name="Dismiss").click()
    assert "dismissed" in page.locator(".message").inner_text()
    assert page.locator("section.pair").count() == 0

    page.click("nav >> text=Held back")
    held = page.locator("section.held", has_text="Broken Vat A/S")
    assert "vat_number" in held.inner_text() and "next sync" in held.locator(".next").inner_text()
    page.screenshot(path=shots / "4-held-back.png", full_page=True)

    webcrm.update_raw("Organisations", broken, {"OrganisationVatNumber": "DK13585601"})  # fixed at the source
    engine_for(config, sqlite_store).run()
    page.reload()
    assert page.locator("section.held", has_text="Broken Vat A/S").count() == 0
    assert page.is_visible("text=No record is held back.")
    page.screenshot(path=shots / "5-released.png", full_page=True)

    page.click("nav >> text=Failed writes")
    assert page.is_visible("text=No write has failed.")
    page.click("nav >> text=Overview")
    assert [page.inner_text(f"#count-{n}") for n in ("matches", "duplicates", "held")] == ["0", "0", "0"]

    # The decisions took effect: Bakery linked (one customer), the carpenters and the twins copied apart.
    names = sorted(c["name"] for c in economic.all_raw("customers"))
    assert names == ["BAKERY HANSEN AS", "Broken Vat A/S", "Nordlys Consult", "Nordlys Consult ApS",
                     "VESTJYSK TOMRER APS", "Vestjysk Tomrer ApS"]
    # Both systems change the accepted pair's city: the conflict shows both values and who won.
    webcrm.update_raw("Organisations", bakery_crm, {"OrganisationCity": "Odense"})
    economic.update_raw("customers", bakery_erp, {"city": "Vejle"})
    engine_for(config, sqlite_store).run()
    page.click("nav >> text=Conflicts")
    row = page.locator("table.conflicts tr", has_text="BAKERY HANSEN AS").filter(has_text="Vejle")
    assert row.locator("td").all_inner_texts()[2:] == ["city", "Odense", "Vejle", "webcrm"]  # the CRM owns the city
    page.screenshot(path=shots / "6-conflicts.png", full_page=True)

    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith(("ledgerbridge.console", "uvicorn")))
    assert "match suggestion" in logged  # the console logs its decisions (ids only)
    assert TOKEN not in logged and "BAKERY" not in logged and "Nordlys" not in logged


def test_a_person_sees_what_the_notifier_told_and_when_it_was_resolved(tmp_path, webcrm, economic, secrets_env,
                                                                       browser):  # noqa: F811
    """The issue's mass corruption, through Dagster and the notifier sensors, read in the console."""
    from dagster import instance_for_test

    from ledgerbridge.store import HubStore
    from ledgerbridge.sync.gate import release_blocks
    from test_notifications import GATE_WHY, Ticks, mass_corruption, notifying_config

    shots = screenshots("console-notifications")
    data, defs = notifying_config(tmp_path, webcrm, economic, {
        "console": True, "dagster_url": "https://sync.example.com/dagster"})
    hub = HubStore(data["hub"]["url"])
    hub.create_all()
    mass_corruption(webcrm)
    server = ThreadedServer(create_app(hub, {"crm": "webcrm", "erp": "economic"}, TOKEN), name="console").start()
    (tmp_path / "dagster").mkdir()
    try:
        with instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
            ticks, sync = Ticks(defs, instance), defs.resolve_job_def("sync_debtors")
            ticks.all()
            failed = sync.execute_in_process(instance=instance, raise_on_error=False)
            ticks.all()

            page = browser.new_page()
            page.goto(server.url + "/login")
            page.fill("input[name=token]", TOKEN)
            page.click("text=Log in")
            banner = page.locator("#open-notifications")
            assert banner.inner_text().startswith("3 open notifications: ledgerbridge: check plan/")  # the stop first
            assert GATE_WHY in banner.inner_text()
            page.screenshot(path=shots / "1-banner.png", full_page=True)
            banner.get_by_role("link").click()
            gate = page.locator("section.notification", has_text="quality_gate")
            assert GATE_WHY in gate.locator(".text").inner_text() and gate.locator(".state").inner_text().lower() == "open"
            assert gate.get_by_role("link", name="Dagster run").get_attribute("href") == \
                f"https://sync.example.com/dagster/runs/{failed.run_id}"
            held = page.locator("section.notification", has_text="Records held back")
            assert "25 debtors are held back from economic" in held.inner_text()
            assert page.locator("section.notification", has_text="Run failed: sync_debtors").count() == 1
            page.screenshot(path=shots / "2-open.png", full_page=True)

            release_blocks(hub, "debtors", "economic", "a person who checked")
            assert sync.execute_in_process(instance=instance, raise_on_error=False).success
            ticks.all()
            page.reload()
            states = [s.locator(".state").inner_text().lower() for s in page.locator("section.notification").all()]
            assert states == ["open", "resolved", "resolved"]  # newest first: held back (still), gate, run
            assert page.locator("section.notification.open", has_text="Records held back").count() == 1
            assert "succeeds again" in page.locator("section.notification", has_text="Run failed").locator(".resolution").inner_text()
            assert page.locator("#open-notifications").inner_text().startswith("1 open notification:")
            page.screenshot(path=shots / "3-resolved.png", full_page=True)
    finally:
        server.stop()
