"""Notifications as e-mails through an SMTP server (notify.email), with the standard library's
smtplib and email packages.

STARTTLS (port 587) or implicit TLS (465) with the server's certificate checked (against the
system's authorities or notify.email.ca_file), or plain SMTP on a trusted relay. The login is read
from the environment variables the configuration names; neither it nor the server's reply text
(which may echo it) appears in an error or a log line, only the kind of failure and the SMTP code.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential

from ledgerbridge.config import EmailConfig
from ledgerbridge.notify.message import Notification, NotifyError

log = logging.getLogger("ledgerbridge.notify")
FOOTER = ("-- \nledgerbridge notifications. This message holds hub ids and counts only, never record data; "
          "the records are in the review console and the hub.")


def compose(notification: Notification, sender: str, recipients: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = notification.subject or notification.text[:120]
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to a robot
    lines = [notification.text, ""]
    if notification.about:
        lines.append(f"About: {notification.about}")
    lines += [f"{key}: {value}" for key, value in notification.details.items()]
    if notification.links:
        lines += ["", *(f"{label}: {url}" for label, url in notification.links.items())]
    mail.set_content("\n".join([*lines, "", FOOTER]) + "\n")
    return mail


def _passing(exc: BaseException) -> bool:
    """Worth another try: the connection broke or the server said 'try later' (4xx)."""
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError))


class MailNotifier:
    name = "email"

    def __init__(self, config: EmailConfig):
        self.config = config

    def __repr__(self) -> str:
        return f"MailNotifier({self.config.host}:{self.config.resolved_port}, {self.config.security})"

    def send(self, notification: Notification) -> None:
        config = self.config
        mail = compose(notification, config.sender, config.recipients)
        login = config.login()
        try:
            self._deliver(mail, login)
        except (smtplib.SMTPException, OSError) as exc:
            code = getattr(exc, "smtp_code", None)
            raise NotifyError(f"the mail server {config.host}:{config.resolved_port} did not take the "
                              f"{notification.kind} message ({type(exc).__name__}{f', SMTP {code}' if code else ''})"
                              ) from None
        log.info("notified by e-mail: %s to %d recipient(s)", notification.kind, len(config.recipients))

    @retry(stop=stop_after_attempt(3), wait=wait_exponential(multiplier=0.5, max=5),
           retry=retry_if_exception(_passing), reraise=True)
    def _deliver(self, mail: EmailMessage, login: tuple[str, str] | None) -> None:
        config = self.config
        port, timeout = config.resolved_port, config.timeout_seconds
        if config.security == "ssl":
            connection = smtplib.SMTP_SSL(config.host, port, timeout=timeout, context=self._tls())
        else:
            connection = smtplib.SMTP(config.host, port, timeout=timeout)
        with connection as smtp:
            if config.security == "starttls":
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if login is not None:
                smtp.login(*login)
            smtp.send_message(mail)

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.config.ca_file) if self.config.ca_file else None)
