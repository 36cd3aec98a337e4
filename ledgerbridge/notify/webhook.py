"""Telling people that something needs them: a JSON POST to a webhook URL named in the configuration
(notify.webhook_url_env). The body has a one-sentence "text" (what Slack and Teams incoming webhooks
show) and the details as fields. Messages carry job, entity, check and counts, never record data,
and the URL (it often holds a token) is never logged or put into a message.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from ledgerbridge.config import ConfigError, SyncConfig

log = logging.getLogger("ledgerbridge.notify")


@dataclass(frozen=True)
class Notification:
    kind: str  # run_failure | check_failure | check_recovered
    text: str  # one sentence a person can act on
    details: dict[str, Any] = field(default_factory=dict)


class NotifyError(RuntimeError):
    pass


class Notifier:
    def __init__(self, url: str, *, timeout: float = 10.0):
        self._url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return "Notifier(<webhook url from the environment>)"

    def send(self, notification: Notification) -> None:
        try:
            self._post(asdict(notification))
        except requests.RequestException as exc:
            # The exception's text may contain the URL; name only its kind.
            raise NotifyError(f"the notification webhook did not accept the {notification.kind} "
                              f"message ({type(exc).__name__})") from None
        log.info("notified: %s", notification.kind)

    @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=5),
           retry=retry_if_exception_type(requests.RequestException), reraise=True)
    def _post(self, body: dict[str, Any]) -> None:
        requests.post(self._url, json=body, timeout=self.timeout).raise_for_status()


def notifier_from_config(config: SyncConfig) -> Notifier | None:
    """The configured notifier, None when notifications are not configured."""
    env = config.notify.webhook_url_env
    if env is None:
        return None
    url = os.environ.get(env)
    if not url:
        raise ConfigError(f"notify: environment variable {env} (notify.webhook_url_env) is not set")
    return Notifier(url)
