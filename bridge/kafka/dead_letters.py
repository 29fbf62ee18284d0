"""Dead-letter records: an authentic callback, or one report of it, that we could not understand."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import orjson

from bridge.errors import CallbackError
from bridge.events import format_instant
from bridge.kafka.envelope import KafkaRecord
from bridge.providers.base import BadReport, Params

MAX_BODY_BYTES: Final = 512 * 1024
GENERIC_HEADERS: Final = frozenset({"content-type", "content-length", "user-agent"})
SECRET_PARAMS: Final = frozenset({"token"})  # the URL token of unsigned kinds
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
    safe_headers: frozenset[str] = frozenset(),
    secret_params: frozenset[str] = frozenset(),
    method: str = "POST",
    query: Params = (),
    request_id: str = "",
    report: BadReport | None = None,
) -> KafkaRecord:
    """The record for the dead-letter topic: what `redrive` needs to parse it again; never a secret.

    Headers are kept only when generic or in the kind's `safe_headers` (no signature, no cookie,
    no URL with its token); the query without its `token`. For one bad report of a multi-report
    callback, the report verbatim and its index stand in for the body, with `report_body` (the
    callback's envelope holding that report alone, which `redrive` parses) and `context` (what
    names the callback it came from: its message or batch id, event type and time). A body over
    MAX_BODY_BYTES is cut and marked `body_truncated`.
    """
    kept_headers = GENERIC_HEADERS | safe_headers
    value: dict[str, Any] = {
        "provider": provider,
        "instance": instance,
        "reason": error.reason,
        "detail": str(error),
        "received_at": format_instant(received_at),
        "request_id": request_id,
        "method": method,
        "headers": {k: v for k, v in headers.items() if k in kept_headers},
        "query": [[k, v] for k, v in query if k not in SECRET_PARAMS and k not in secret_params],
    }
    if report is not None:
        value["index"] = report.index
        value["report"] = report.report
        alone = report.body if report.body is not None else orjson.dumps([report.report])
        value["report_body"] = alone.decode("utf-8", "replace")
        value["context"] = dict(report.context)
    else:
        truncated = len(body) > MAX_BODY_BYTES
        kept = body[:MAX_BODY_BYTES]
        value["body_size"] = len(body)
        value["body_truncated"] = truncated
        try:
            value["body"] = kept.decode("utf-8")
        except UnicodeDecodeError:
            value["body_base64"] = base64.b64encode(kept).decode("ascii")
    return KafkaRecord(topic=topic, key=instance.encode("utf-8"), value=orjson.dumps(value), headers=_HEADERS)
