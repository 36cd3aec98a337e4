"""E-mail notifications through a real SMTP server on loopback (aiosmtpd): STARTTLS with a login,
implicit TLS, a refused login; the login never shows in a message, an error or a log line."""

from __future__ import annotations

import logging

import pytest

from ledgerbridge.config import ConfigError, EmailConfig, parse_config
from ledgerbridge.notify import Notification, NotifyError
from ledgerbridge.notify.mail import MailNotifier
from mail_receiver import start_receiver

USER, PASSWORD = "ledgerbridge-mailer", "smtp-password-do-not-leak"
GATE = Notification(
    "check_failure",
    "ledgerbridge: check plan/erp_debtors:quality_gate failed. Push to economic blocked: 100% of 25 planned debtors "
    "newly failed the checks (threshold 20%), which looks like a mass corruption upstream; fix the source data "
    "(see counts_by_reason), then run again.",
    {"check": "plan/erp_debtors:quality_gate", "newly_bad_share": 1.0, "threshold": 0.2},
    about="check plan/erp_debtors:quality_gate", subject="ledgerbridge: check plan/erp_debtors:quality_gate failed",
    links={"Console": "https://sync.example.com/console/notifications"})


@pytest.fixture
def smtp_login(monkeypatch):
    monkeypatch.setenv("LB_TEST_SMTP_USER", USER)
    monkeypatch.setenv("LB_TEST_SMTP_PASSWORD", PASSWORD)


def mail_config(receiver, security: str, **extra) -> EmailConfig:
    return EmailConfig(host=receiver.host, port=receiver.port, security=security, sender="sync@example.com",
                       recipients=["ops@example.com", "finance@example.com"], ca_file=receiver.ca_file, **extra)


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_a_notification_arrives_as_an_e_mail_over_tls_with_the_login_from_the_environment(
        tmp_path, smtp_login, caplog, security):
    caplog.set_level(logging.DEBUG)
    receiver, controller = start_receiver(tmp_path, security=security, login=(USER, PASSWORD))
    try:
        MailNotifier(mail_config(receiver, security, username_env="LB_TEST_SMTP_USER",
                                 password_env="LB_TEST_SMTP_PASSWORD")).send(GATE)
    finally:
        controller.stop()

    [mail] = receiver.received
    assert receiver.logins == [USER]
    assert mail.sender == "sync@example.com" and mail.recipients == ["ops@example.com", "finance@example.com"]
    assert mail.message["Subject"] == "ledgerbridge: check plan/erp_debtors:quality_gate failed"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    body = mail.message.get_content()
    assert body.startswith(GATE.text) and "newly_bad_share: 1.0" in body and "threshold: 0.2" in body
    assert "Console: https://sync.example.com/console/notifications" in body
    assert PASSWORD not in mail.raw.decode() and PASSWORD not in caplog.text


def test_a_refused_login_names_the_server_and_the_code_never_the_login(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LB_TEST_SMTP_USER", USER)
    monkeypatch.setenv("LB_TEST_SMTP_PASSWORD", "a-wrong-password-not-to-show")
    receiver, controller = start_receiver(tmp_path, security="starttls", login=(USER, PASSWORD))
    try:
        with pytest.raises(NotifyError) as error:
            MailNotifier(mail_config(receiver, "starttls", username_env="LB_TEST_SMTP_USER",
                                     password_env="LB_TEST_SMTP_PASSWORD")).send(GATE)
    finally:
        controller.stop()

    assert str(error.value) == (f"the mail server 127.0.0.1:{receiver.port} did not take the check_failure message "
                                "(SMTPAuthenticationError, SMTP 535)")
    assert receiver.received == []
    assert "a-wrong-password" not in caplog.text and USER not in str(error.value)


def test_a_server_whose_certificate_is_not_trusted_gets_nothing(tmp_path):
    receiver, controller = start_receiver(tmp_path, security="starttls")
    try:
        with pytest.raises(NotifyError, match="SSLCertVerificationError"):
            MailNotifier(mail_config(receiver, "starttls").model_copy(update={"ca_file": None})).send(GATE)
    finally:
        controller.stop()
    assert receiver.received == []


def test_a_missing_login_variable_is_named_and_the_config_keeps_only_names(tmp_path, monkeypatch):
    monkeypatch.delenv("LB_TEST_SMTP_PASSWORD", raising=False)
    monkeypatch.setenv("LB_TEST_SMTP_USER", USER)
    config = EmailConfig(host="smtp.example.com", sender="sync@example.com", recipients=["ops@example.com"],
                         username_env="LB_TEST_SMTP_USER", password_env="LB_TEST_SMTP_PASSWORD")
    with pytest.raises(ConfigError, match=r"LB_TEST_SMTP_PASSWORD \(notify.email.password_env\) is not set"):
        config.login()
    assert config.resolved_port == 587


@pytest.mark.parametrize("email, problem", [
    ({"sender": "not an address"}, "notify.email.sender: 'not an address' is not an e-mail address"),
    ({"password_env": "hunter2 is my password"}, "notify.email.password_env: String should match pattern"),
    ({"username_env": "SMTP_USER"}, "username_env and password_env go together"),
    ({"security": "none", "username_env": "SMTP_USER", "password_env": "SMTP_PASSWORD"}, "never sent unencrypted"),
    ({"host": "smtp://mail.example.com"}, "must be a host name or address"),
])
def test_the_mail_configuration_is_checked_on_load(email, problem):
    data = {"crm": {"system": "webcrm", "base_url": "http://127.0.0.1:1"},
            "erp": {"system": "economic", "base_url": "http://127.0.0.1:2"},
            "notify": {"email": {"host": "smtp.example.com", "sender": "sync@example.com",
                                 "recipients": ["ops@example.com"], **email}}}
    with pytest.raises(ConfigError, match=problem.replace("(", r"\(")) as error:
        parse_config(data)
    assert "hunter2" not in str(error.value)
