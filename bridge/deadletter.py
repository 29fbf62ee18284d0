"""Dead-letter records: an authentic callback we could not understand, kept with the reason."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import orjson

from bridge.envelope import KafkaRecord
from bridge.errors import CallbackError
from bridge.events import format_time

MAX_BODY_BYTES: Final = 512 * 1024
SAFE_HEADERS: Final = frozenset(
    {"content-type", "content-length", "user-agent", "accesskey", "action", "biztype", "ts", "algorithm"}
)
_HEADERS: Final = (("content-type", b"application/json"),)


def to_dead_letter(
    topic: str,
    *,
    provider: str,
    instance: str,
    error: CallbackError,
    body: bytes,
    headers: Mapping[str, str],
    received_at: datetime,
) -> KafkaRecord:
    """The record for the dead-letter topic: raw body, reason and instance; never a secret.

    Only headers in SAFE_HEADERS are kept (no signature, no cookies, no URL with its token).
    A body over MAX_BODY_BYTES is cut and marked `body_truncated`.
    """
    truncated = len(body) > MAX_BODY_BYTES
    kept = body[:MAX_BODY_BYTES]
    value: dict[str, Any] = {
        "provider": provider,
        "instance": instance,
        "reason": error.reason,
        "detail": str(error),
        "received_at": format_time(received_at),
        "headers": {k: v for k, v in headers.items() if k in SAFE_HEADERS},
        "body_size": len(body),
        "body_truncated": truncated,
    }
    try:
        value["body"] = kept.decode("utf-8")
    except UnicodeDecodeError:
        value["body_base64"] = base64.b64encode(kept).decode("ascii")
    return KafkaRecord(topic=topic, key=instance.encode("utf-8"), value=orjson.dumps(value), headers=_HEADERS)
