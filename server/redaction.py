"""Credentials in URLs are never shown: not in status, error messages or logs.

`backendUrl` may carry a user name and password (`https://user:secret@gpu-box/v1`); every
text that could quote it goes through `redact` on its way out.
"""

import logging
import re

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@")


def redact(text: str) -> str:
    """`text` with the `user:password@` part of every URL in it replaced by `***@`."""
    return _USERINFO.sub(r"\1***@", text) if "@" in text else text


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's final message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = redact(message)
        if shown != message:
            record.msg, record.args = shown, None
        return True
