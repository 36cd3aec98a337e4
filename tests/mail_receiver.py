"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: plain, STARTTLS or
implicit TLS with a certificate made for the test, and a login it checks."""

from __future__ import annotations

import datetime
import email
import email.policy
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class MailReceiver:
    host: str
    port: int
    ca_file: Path | None
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)  # user names that logged in


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1/localhost and its key; the certificate is its own authority."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ledgerbridge test mail server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class _Keeper:
    def __init__(self, receiver: MailReceiver):
        self.receiver = receiver

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.receiver.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message, envelope.content))
        return "250 OK"


def start_receiver(folder: Path, *, security: str = "none", login: tuple[str, str] | None = None,
                   port: int | None = None):
    """(receiver, controller): stop the controller when done."""
    cert_file = key_file = None
    if security != "none":
        cert_file, key_file = self_signed(folder)
    receiver = MailReceiver("127.0.0.1", port or free_port(), cert_file)
    kwargs: dict = {}
    if cert_file is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        kwargs["ssl_context" if security == "ssl" else "tls_context"] = context
        if security == "starttls":
            kwargs["require_starttls"] = True
    if login is not None:
        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == login
            if ok:
                receiver.logins.append(auth_data.login.decode())
            return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself

        # aiosmtpd counts only STARTTLS as TLS; behind implicit TLS it would not offer AUTH at all.
        kwargs.update(authenticator=authenticator, auth_require_tls=security != "ssl")
    controller = Controller(_Keeper(receiver), hostname=receiver.host, port=receiver.port,
                            server_hostname="localhost", **kwargs)
    controller.start()
    return receiver, controller
