"""The two ways a notice leaves: e-mail over SMTP and signed JSON webhooks.

SMTP hand-over: the server takes a message when it reads the final "." after DATA. The
caller gives `send_and_mark(send_final_dot)`, which writes the dot and marks the hand-over
in the same instant (see `handovers`). A process killed before the dot leaves an unfinished
DATA that the server throws away (sending again later loses nothing, duplicates nothing); a
process killed after it is found marked on restart and recorded as sent ("reconciled").

Webhooks follow the Standard Webhooks signature scheme (see docs/services/notifications.md):
`webhook-id` (the delivery id, the same on every retry so receivers can drop repeats),
`webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr
from typing import Any

import httpx


class ChannelDown(Exception):
    """The channel itself cannot be used now (server unreachable, session broken): the
    notices wait for it; their own attempts are not used up."""


class DeliveryError(Exception):
    """This notice was refused or failed; `permanent` ones are not tried again."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class RefusedAfterData(DeliveryError):
    """The server read the whole message, then refused it."""


class HandedOver(Exception):
    """The connection broke after the message was handed over: delivery is presumed."""


# --------------------------------------------------------------------------- e-mail


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    verify_tls: bool = True
    local_hostname: str | None = None
    mail_from: str = "dondoc@localhost"
    from_name: str = "Văn phòng Tỉnh ủy"


def build_email(config: SmtpConfig, *, to: str, subject: str, text: str, message_id: str,
                date: datetime, language: str, headers: dict[str, str] | None = None) -> EmailMessage:
    """A proper MIME message: UTF-8 text (quoted-printable), RFC 2047 encoded headers."""
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = formataddr((config.from_name, config.mail_from))
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["Content-Language"] = language
    message["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text, charset="utf-8", cte="quoted-printable")
    return message


_LEADING_DOT = re.compile(rb"(?m)^\.")


class SmtpSession:
    """One connection, many messages (sync: run it in a worker thread)."""

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        try:
            if config.implicit_tls:
                context = ssl.create_default_context() if config.verify_tls else ssl._create_unverified_context()
                self.smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.host, config.port, local_hostname=config.local_hostname,
                    timeout=config.timeout, context=context)
            else:
                self.smtp = smtplib.SMTP(config.host, config.port, local_hostname=config.local_hostname,
                                         timeout=config.timeout)
            # the final "." is a tiny write right after the message: without this, Nagle's
            # algorithm holds it until the server acknowledges the text (tens of ms a mail)
            self.smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.smtp.ehlo()
            if config.starttls and not config.implicit_tls:
                context = ssl.create_default_context() if config.verify_tls else ssl._create_unverified_context()
                self.smtp.starttls(context=context)
                self.smtp.ehlo()
            if config.username:
                self.smtp.login(config.username, config.password or "")
        except smtplib.SMTPAuthenticationError as e:
            raise ChannelDown(f"SMTP authentication failed: {e.smtp_code} {_text(e.smtp_error)}") from e
        except (OSError, smtplib.SMTPException) as e:
            raise ChannelDown(f"SMTP server {config.host}:{config.port} unavailable: {e}") from e

    def send(self, message: EmailMessage, recipients: list[str],
             send_and_mark: Callable[[Callable[[], None]], None]) -> str:
        """Hand the message over; `send_and_mark(dot)` writes the final "." (see module doc)."""
        smtp = self.smtp
        committed = False
        try:
            code, reply = smtp.mail(self.config.mail_from)
            if code != 250:
                self._reset()
                raise DeliveryError(f"MAIL FROM refused: {code} {_text(reply)}", permanent=code >= 500)
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    self._reset()
                    raise DeliveryError(f"RCPT TO <{recipient}> refused: {code} {_text(reply)}",
                                        permanent=code >= 500)
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                self._reset()
                raise DeliveryError(f"DATA refused: {code} {_text(reply)}", permanent=code >= 500)
            data = _LEADING_DOT.sub(b"..", message.as_bytes(policy=SMTP_POLICY))
            if not data.endswith(b"\r\n"):
                data += b"\r\n"
            smtp.send(data)

            def final_dot() -> None:
                nonlocal committed
                smtp.send(b".\r\n")
                committed = True  # from here the server has it

            send_and_mark(final_dot)
            code, reply = smtp.getreply()
            if code != 250:
                raise RefusedAfterData(f"message refused after DATA: {code} {_text(reply)}",
                                       permanent=code >= 500)
            return f"{code} {_text(reply)}"
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            if committed:
                raise HandedOver(f"connection lost after hand-over: {e}") from e
            raise ChannelDown(f"SMTP connection lost: {e}") from e

    def _reset(self) -> None:
        try:
            self.smtp.rset()
        except (OSError, smtplib.SMTPException):
            pass

    def close(self) -> None:
        try:
            self.smtp.quit()
        except (OSError, smtplib.SMTPException):
            self.smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


# --------------------------------------------------------------------------- webhooks


def webhook_key(secret: str) -> bytes:
    """`whsec_<base64>` secrets (Standard Webhooks) are base64; any other is taken as UTF-8."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode("utf-8")


def sign(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance: int = 300,
           now: float | None = None) -> bool:
    """What a receiver does (also used by the tests): constant-time compare, fresh timestamp."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        delivery_id, timestamp = lowered["webhook-id"], int(lowered["webhook-timestamp"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, delivery_id, timestamp, body).split(",", 1)[1]
    return any(hmac.compare_digest(expected, candidate.split(",", 1)[-1])
               for candidate in lowered.get("webhook-signature", "").split())


@dataclass(frozen=True)
class WebhookConfig:
    secret: str
    timeout: float = 10.0
    user_agent: str = "dondoc-notifications/1"


class WebhookSender:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.client = httpx.Client(timeout=config.timeout, follow_redirects=False,
                                   headers={"User-Agent": config.user_agent})

    def post(self, url: str, delivery_id: str, payload: dict[str, Any]) -> str:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json; charset=utf-8",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.config.secret, delivery_id, timestamp, body),
        }
        try:
            response = self.client.post(url, content=body, headers=headers)
        except httpx.HTTPError as e:
            raise DeliveryError(f"{type(e).__name__}: {e}") from e
        if 200 <= response.status_code < 300:
            return f"HTTP {response.status_code}"
        retryable = response.status_code >= 500 or response.status_code in (408, 425, 429)
        raise DeliveryError(f"HTTP {response.status_code} {response.reason_phrase}",
                            permanent=not retryable)

    def close(self) -> None:
        self.client.close()
