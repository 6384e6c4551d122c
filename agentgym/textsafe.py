"""Agent- and endpoint-controlled text made safe for the operator's terminal and logs.

Anything the agent or the model endpoint chose (file names, error texts, replies) may carry terminal escape
sequences (ESC/CSI/OSC, BEL, CR, backspace…) or rich markup (`[bold red]`). `for_terminal` makes every control
character visible (`\\x1b`) and caps the length; `for_console` also escapes rich markup. `EscapingFilter` does
this for every log record's message and arguments, so no module needs to remember it.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata

from rich.markup import escape as _escape_markup

DEFAULT_LIMIT = 2000
# C0 and C1 controls and DEL; also the Unicode line/paragraph separators and bidi overrides/isolates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """`text` with every control character shown as an escape, at most `limit` characters (marked)."""
    s = str(text)
    if len(s) > limit:
        s = f"{s[:limit]}…[{len(s) - limit} more chars]"
    s = _UNSAFE.sub(_visible, s)
    # other invisible format characters (category Cf) are shown too, never passed through
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c) == "Cf" else c for c in s)


def for_console(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """`for_terminal`, then rich markup escaped, for interpolation into a `console.print` markup string."""
    return _escape_markup(for_terminal(text, limit))


class EscapingFilter(logging.Filter):
    """Escapes each record's message and arguments in place (installed on the CLI's log handler)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:  # one line on the console, never a traceback
            exc = record.exc_info[1]
            message = f"{message} ({type(exc).__name__}: {exc})"
            if not os.environ.get("AGENTGYM_DEBUG"):
                record.exc_info, record.exc_text = None, None
        record.msg, record.args = for_terminal(message, 4 * DEFAULT_LIMIT), None
        return True
