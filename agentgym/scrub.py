"""Secret scrubbing for everything printed, logged or written.

One process-wide `Scrubber` is filled at run start (API key, credentials inside the base URL, values of
environment variables that tasks may receive) and applied by the console error printers, a logging filter
and the run folder writer. Values shorter than 4 characters are never scrubbed (they would garble output).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from agentgym.textsafe import EscapingFilter

MIN_SECRET_LEN = 4
MASK = "***"
_SECRET_QUERY_WORDS = ("key", "token", "secret", "password", "sig", "auth")


class Scrubber:
    """Replace every registered value (and its JSON-escaped form) with ***, longest first."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: list[str] = []
        self.add(values)

    def add(self, values: Iterable[str | None]) -> None:
        found = set(self._values)
        for value in values:
            if not value or len(value) < MIN_SECRET_LEN:
                continue
            found.add(value)
            escaped = json.dumps(value, ensure_ascii=False)[1:-1]
            if escaped != value:
                found.add(escaped)
        self._values = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def bytes(self, data: bytes) -> bytes:
        for value in self._values:
            data = data.replace(value.encode("utf-8", "surrogateescape"), MASK.encode())
        return data

    @property
    def values(self) -> list[str]:
        return list(self._values)


SCRUBBER = Scrubber()


def register(values: Iterable[str | None]) -> None:
    """Add secrets to the process-wide scrubber (idempotent)."""
    SCRUBBER.add(values)


def scrub(text: object) -> str:
    return SCRUBBER(str(text))


def url_secrets(url: str | None) -> list[str]:
    """Credentials inside a URL: `user:pass`, its Basic-auth form, and the password of `user:pass@host` (the
    user of `token@host`), and the values of
    query parameters named like key/token/secret/password/sig/auth."""
    if not url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        secret = password or user  # a token may be passed as the user name alone
        basic = base64.b64encode(unquote(userinfo).encode()).decode()  # httpx sends them as Basic auth
        found += [userinfo, unquote(userinfo), secret, unquote(secret), basic]
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if any(word in name.lower() for word in _SECRET_QUERY_WORDS):
            found.append(value)
    return [v for v in found if v]


class ScrubFilter(logging.Filter):
    """Scrubs a record's message (arguments merged in) and its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


class _ConsoleFormatter(logging.Formatter):
    """One line per record on the console; a traceback only with AGENTGYM_DEBUG=1."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line += f" ({type(exc).__name__}: {scrub(exc)})"
            if os.environ.get("AGENTGYM_DEBUG") and record.exc_text:
                line += "\n" + record.exc_text
        return scrub(line)


def install_console_logging() -> None:
    """Route warnings and errors (ours and libraries') to stderr, scrubbed, one line each (no traceback)."""
    root = logging.getLogger()
    if any(isinstance(h, _ScrubbedHandler) for h in root.handlers):
        return
    handler = _ScrubbedHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.addFilter(ScrubFilter())  # secrets first, then control characters made visible
    handler.addFilter(EscapingFilter())
    handler.setFormatter(_ConsoleFormatter())
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, logging.WARNING))


class _ScrubbedHandler(logging.StreamHandler):  # type: ignore[type-arg]
    pass


__all__ = ["SCRUBBER", "ScrubFilter", "Scrubber", "install_console_logging", "register", "scrub", "url_secrets"]
