"""Notifications as a JSON POST to a webhook URL named in the configuration (notify.webhook_url_env).
The body has a one-sentence "text" (what Slack and Teams incoming webhooks show, with the links)
and the details as fields. The URL (it often holds a token) is never logged or put into a message.
"""

from __future__ import annotations

import logging
from typing import Any

import requests
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from ledgerbridge.notify.message import Notification, NotifyError

log = logging.getLogger("ledgerbridge.notify")


class WebhookNotifier:
    name = "webhook"

    def __init__(self, url: str, *, timeout: float = 10.0):
        self._url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return "WebhookNotifier(<webhook url from the environment>)"

    def send(self, notification: Notification) -> None:
        body = {"kind": notification.kind, "text": notification.message, "details": notification.details,
                "links": notification.links}
        try:
            self._post(body)
        except requests.RequestException as exc:
            # The exception's text may contain the URL; name only its kind.
            status = getattr(exc.response, "status_code", None)
            raise NotifyError(f"the notification webhook did not accept the {notification.kind} message "
                              f"({type(exc).__name__}{f', HTTP {status}' if status else ''})") from None
        log.info("notified by webhook: %s", notification.kind)

    @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=5),
           retry=retry_if_exception_type(requests.RequestException), reraise=True)
    def _post(self, body: dict[str, Any]) -> None:
        requests.post(self._url, json=body, timeout=self.timeout).raise_for_status()
