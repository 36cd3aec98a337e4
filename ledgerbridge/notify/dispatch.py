"""Telling people: a notification is recorded in the hub (the console shows it) and then sent on
every configured channel (webhook, e-mail). What a channel did not take stays due and is sent again
by the next tick, up to journal.MAX_ATTEMPTS times; the error (no URL, no login) is kept in the row."""

from __future__ import annotations

import logging
import os
from typing import Protocol

from ledgerbridge.config import ConfigError, NotifyConfig
from ledgerbridge.notify import journal
from ledgerbridge.notify.mail import MailNotifier
from ledgerbridge.notify.message import Notification, NotifyError
from ledgerbridge.notify.webhook import WebhookNotifier
from ledgerbridge.store import HubStore

log = logging.getLogger("ledgerbridge.notify")


class Channel(Protocol):
    name: str

    def send(self, notification: Notification) -> None: ...


def channels_from_config(config: NotifyConfig) -> list[Channel]:
    """The configured channels; the webhook URL is read from its environment variable now."""
    channels: list[Channel] = []
    if config.webhook_url_env is not None:
        url = os.environ.get(config.webhook_url_env)
        if not url:
            raise ConfigError(f"notify: environment variable {config.webhook_url_env} (notify.webhook_url_env) is not set")
        channels.append(WebhookNotifier(url))
    if config.email is not None:
        channels.append(MailNotifier(config.email))
    return channels


class Dispatcher:
    def __init__(self, store: HubStore, channels: list[Channel]):
        self.store = store
        self.channels = {channel.name: channel for channel in channels}

    def tell(self, notification: Notification, *, event_key: str, severity: str, run_id: str | None = None) -> bool:
        """Open and send a notification, unless one about the same thing is open (then: a repeat)."""
        row_id, opened = journal.open_or_repeat(self.store, notification, event_key=event_key, severity=severity,
                                                run_id=run_id, channels=list(self.channels))
        self.deliver([row_id])
        return opened

    def resolve(self, about: str, resolution: str) -> bool:
        """Close what is open about `about` and say it is fine again."""
        ids = journal.resolve(self.store, about, resolution, list(self.channels))
        self.deliver(ids)
        return bool(ids)

    def deliver(self, ids: list[int] | None = None) -> None:
        """Send what is due (of these rows, or of all); raise NotifyError naming what still failed."""
        if ids == []:
            return
        failures = []
        for entry, message, name in journal.undelivered(self.store, ids):
            channel = self.channels.get(name)
            if channel is None:  # a channel configured then, not now: nobody to send it to
                journal.mark(self.store, entry.id, message, name, error="channel no longer configured")
                continue
            try:
                channel.send(entry.message(message))
            except (NotifyError, ConfigError) as exc:
                state = journal.mark(self.store, entry.id, message, name, error=str(exc))
                log.error("notification %s (%s) not sent by %s: %s", entry.id, message, name, state)
                if not state.startswith("gave up"):
                    failures.append(str(exc))
            else:
                journal.mark(self.store, entry.id, message, name)
        if failures:
            raise NotifyError("; ".join(failures))
