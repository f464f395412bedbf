"""The channels a notification goes out on: Telegram (Bot API ``sendMessage``) and e-mail (Django's
mail backend). Each is a short class under ``Transport``.

Contract of ``Transport.send(message)``: returns None once the channel accepted the message; raises
``RateLimited(retry_after)`` when the channel asks us to wait that many seconds (Telegram's 429),
``TemporaryFailure`` for what may work on a retry (network, 5xx, a mail server away) and
``PermanentFailure`` for what never will (a bad token or chat, 4xx). Nothing else escapes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import requests
from django.core.mail import EmailMultiAlternatives

log = logging.getLogger(__name__)

TELEGRAM_MAX_CHARS = 4096


@dataclass(frozen=True)
class Message:
    """One notification: a subject (the e-mail's; Telegram shows it as the first line), plain text,
    and optionally HTML (Telegram's subset: <b>, <i>, <pre>, <code>; e-mail: any)."""

    kind: str
    subject: str
    text: str
    html: str = ""


class SendError(Exception):
    """A message not delivered."""


class TemporaryFailure(SendError):
    """Worth retrying later."""


class PermanentFailure(SendError):
    """Never worth retrying (configuration)."""


class RateLimited(TemporaryFailure):
    """The channel asked us to wait ``retry_after`` seconds before sending again."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(detail or f"rate limited: retry after {retry_after:g} s")
        self.retry_after = retry_after


class Transport:
    """One channel (see the module docstring for the contract of ``send``)."""

    name = ""

    def send(self, message: Message) -> None:
        raise NotImplementedError


class TelegramTransport(Transport):
    """Telegram's Bot API: ``POST {base}/bot{token}/sendMessage`` with ``chat_id`` and ``text``
    (``parse_mode`` HTML when the message has HTML)."""

    name = "telegram"

    def __init__(self, *, token: str, chat_id: str, base_url: str, timeout: float = 10.0) -> None:
        self.token, self.chat_id = token, chat_id
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()

    def _body(self, message: Message) -> dict:
        if message.html:
            text, mode = f"<b>{_html_escape(message.subject)}</b>\n{message.html}", "HTML"
        else:
            text, mode = f"{message.subject}\n{message.text}", None
        body = {"chat_id": self.chat_id, "text": text[:TELEGRAM_MAX_CHARS], "disable_web_page_preview": True}
        if mode:
            body["parse_mode"] = mode
        return body

    def send(self, message: Message) -> None:
        url = f"{self.base_url}/bot{self.token}/sendMessage"
        try:
            response = self.session.post(url, json=self._body(message), timeout=self.timeout)
        except requests.RequestException as exc:
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.status_code == 200 and answer.get("ok"):
            return
        description = str(answer.get("description") or response.text[:200])
        if response.status_code == 429:
            retry_after = (answer.get("parameters") or {}).get("retry_after")
            raise RateLimited(float(retry_after) if retry_after is not None else 1.0, description)
        if response.status_code >= 500:
            raise TemporaryFailure(f"HTTP {response.status_code}: {description}")
        raise PermanentFailure(f"HTTP {response.status_code}: {description}")


class EmailTransport(Transport):
    """E-mail through Django's mail backend (``EMAIL_BACKEND``: SMTP in production, locmem in tests)."""

    name = "email"

    def __init__(self, *, recipients: list[str], sender: str) -> None:
        self.recipients, self.sender = list(recipients), sender

    def send(self, message: Message) -> None:
        mail = EmailMultiAlternatives(
            subject=message.subject, body=message.text, from_email=self.sender, to=self.recipients
        )
        if message.html:
            mail.attach_alternative(
                f"<pre>{message.html}</pre>" if "<table" not in message.html else message.html, "text/html"
            )
        try:
            mail.send(fail_silently=False)
        except (OSError, ValueError) as exc:  # smtplib errors are OSErrors; a refused address a ValueError
            raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from exc


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
