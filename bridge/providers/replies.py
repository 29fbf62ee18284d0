"""Reply shapes several kinds share: an empty 200, and a plain-text refusal that names its reason."""

from __future__ import annotations

from typing import Final

from bridge.errors import CallbackError
from bridge.providers.base import Reply

TEXT: Final = "text/plain; charset=utf-8"
REASON_HEADER: Final = "X-Bridge-Reason"  # every refusal names its reason code here too (`sms-bridge send` prints it)
EMPTY_OK: Final = Reply(200, b"", TEXT)


def text_refusal(error: CallbackError, status: int | None = None) -> Reply:
    """`<reason>: <message>` as plain text, the reason in REASON_HEADER; the error's status unless one is given."""
    body = f"{error.reason}: {error}".encode()
    return Reply(error.status if status is None else status, body, TEXT, {REASON_HEADER: error.reason})
