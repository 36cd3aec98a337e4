"""What a notification says: one sentence a person can act on, a subject line, the details as
counts and ids, and links to where to look. Built from check descriptions and run facts, which
never hold record data (names, e-mails, values), so no channel ever carries any."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class NotifyError(RuntimeError):
    """A channel did not take a message; the text names the channel and the kind of failure only."""


@dataclass(frozen=True)
class Notification:
    kind: str  # run_failure | check_failure | run_recovered | check_recovered
    text: str  # one sentence a person can act on
    details: dict[str, Any] = field(default_factory=dict)
    # What failed, the same for every message of one streak ("check plan/erp_debtors:quality_gate",
    # "job sync_debtors"): a new message opens only when no notification on it is open.
    about: str = ""
    subject: str = ""  # the e-mail's subject line
    links: dict[str, str] = field(default_factory=dict)  # label -> URL (the console, the Dagster run)

    @property
    def message(self) -> str:
        """The sentence followed by its links, as one line (what chat webhooks show)."""
        if not self.links:
            return self.text
        return f"{self.text} " + " ".join(f"{label}: {url}" for label, url in self.links.items())


def links_for(console_url: str | None, dagster_url: str | None, run_id: str | None) -> dict[str, str]:
    """Where to look, for the base URLs that are configured."""
    links = {}
    if console_url:
        links["Console"] = f"{console_url}/notifications"
    if dagster_url and run_id:
        links["Dagster run"] = f"{dagster_url}/runs/{run_id}"
    return links
