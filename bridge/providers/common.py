"""Parsing helpers that several providers share: media types, JSON and form bodies, fields, numbers, times, prices."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import Any, Final
from urllib.parse import unquote

import orjson

from bridge.errors import MalformedCallbackError, MalformedReason
from bridge.events import Status
from bridge.providers.base import BodyKind, Params, RawCallback

_PLAIN_DECIMAL: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def media_type(headers: Mapping[str, str], default: str) -> str:
    """The callback's media type, lower case without parameters (`default` when it has no Content-Type)."""
    return headers.get("content-type", default).split(";", 1)[0].strip().lower()


def body_kind(media_types: Mapping[str, BodyKind], headers: Mapping[str, str]) -> BodyKind | None:
    """How a callback's body is read, by its Content-Type among a kind's declared `media_types` (the first
    one when it has none; any `+json` type is JSON for a kind that takes JSON); None: a type it does not take.
    The one rule for the endpoint (415), the kinds that tell bodies apart, and `redrive`."""
    media = media_type(headers, next(iter(media_types)))
    kind = media_types.get(media)
    if kind is None and media.endswith("+json") and "json" in media_types.values():
        return "json"
    return kind


def status_union(*tables: Mapping[str, Status]) -> dict[str, Status]:
    """The status table of a kind that has one per API or event family (its `statuses`): every code of
    every table; a code in two tables must mean the same in both (TypeError at import otherwise)."""
    union: dict[str, Status] = {}
    for table in tables:
        for code, status in table.items():
            if union.setdefault(code, status) is not status:
                raise TypeError(f"status code {code!r} maps to two statuses")
    return union


def finality(statuses: Mapping[str, Status], *, intermediate: Iterable[str]) -> dict[str, bool]:
    """A kind's `finality`: for every code of its `statuses`, whether the provider sends no later status for the
    message (True) or a later one may follow (False, the codes named `intermediate`; each must be a code of
    `statuses`, TypeError at import otherwise). Every other code is final."""
    later = frozenset(intermediate)
    if not later <= statuses.keys():
        raise TypeError(f"intermediate codes not in the status table: {sorted(later - statuses.keys())}")
    return {code: code not in later for code in statuses}


def url_params(text: bytes) -> Params:
    """`a=1&b=2` (URL-encoded UTF-8) as ordered pairs, exactly as `parse_qsl(text.decode("utf-8"),
    keep_blank_values=True, errors="strict")` reads it (a test holds the two equal), in one loop: no
    unquote() call for a part without `%`, no replace() without `+`. UnicodeDecodeError when it is not UTF-8."""
    pairs: list[tuple[str, str]] = []
    for field in text.decode("utf-8").split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name, errors="strict")
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value, errors="strict")
        pairs.append((name, value))
    return tuple(pairs)


def form_params(
    body: bytes, *, reason: MalformedReason = "invalid_utf8", message: str = "form body is not valid URL-encoded UTF-8"
) -> Params:
    """A URL-encoded UTF-8 body as ordered pairs (MalformedCallbackError with `reason` and `message` otherwise)."""
    try:
        return url_params(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedCallbackError(reason, message) from exc


def query_or_form(callback: RawCallback, *, reason: MalformedReason = "invalid_utf8",
                  message: str = "form body is not valid URL-encoded UTF-8") -> Params:
    """The parameters of a GET (its query) or of a form POST: the form the endpoint decoded, else the body
    decoded here (a dead letter keeps the body, not its decoded form)."""
    if callback.method == "GET":
        return callback.query
    if callback.form or not callback.body:
        return callback.form
    return form_params(callback.body, reason=reason, message=message)


def load_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body; MalformedCallbackError names the rule broken."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:  # the body is looked at again only when it is not JSON
        if not body.strip():
            raise MalformedCallbackError("invalid_json", "body is empty") from exc
        if "utf-8" in str(exc).lower() or "surrogate" in str(exc).lower():
            raise MalformedCallbackError("invalid_utf8", "body is not valid UTF-8") from exc
        raise MalformedCallbackError("invalid_json", "body is not valid JSON") from exc


def text_field(record: dict[str, Any], name: str, *, where: str = "") -> str:
    """A required string field; numbers are accepted and turned into their decimal text."""
    value = optional_text(record, name, where=where)
    if value is None:
        raise MalformedCallbackError("missing_field", f"{where}{name}: required")
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def identifier(record: dict[str, Any], name: str, *, where: str = "") -> str:
    """A required id or number that becomes a record key or CloudEvents attribute: non-empty,
    no control characters (CloudEvents strings forbid them)."""
    value = text_field(record, name, where=where)
    if value and value.isascii() and value.isprintable() and not value.isspace():  # the usual id: no regex
        return value
    if not value.strip() or _CONTROL.search(value):
        raise MalformedCallbackError("invalid_field", f"{where}{name}: must not be empty or contain control characters")
    return value


def optional_text(record: dict[str, Any], name: str, *, where: str = "") -> str | None:
    """An optional string field (absent or null gives None)."""
    value = record.get(name)
    if type(value) is str:  # the usual case first: every field of every callback comes this way
        if "\x00" in value:
            raise MalformedCallbackError("invalid_field", f"{where}{name}: must not contain NUL")
        return value
    if value is None:
        return None
    if isinstance(value, bool):
        raise MalformedCallbackError("invalid_field", f"{where}{name}: must be a string")
    if isinstance(value, int | float):
        return str(value)
    if not isinstance(value, str):
        raise MalformedCallbackError("invalid_field", f"{where}{name}: must be a string")
    if "\x00" in value:
        raise MalformedCallbackError("invalid_field", f"{where}{name}: must not contain NUL")
    return value


@functools.lru_cache(maxsize=4096)  # a second's callbacks share their times; a datetime is immutable
def local_time(text: str, zone: tzinfo, *, where: str) -> datetime:
    """`yyyy-MM-dd HH:mm:ss` in a provider's zone (or with its own offset) -> aware UTC."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedCallbackError("invalid_field", f"{where}: must be a time 'yyyy-MM-dd HH:mm:ss'") from exc
    return _as_utc(parsed, zone, where)


def json_decimal(document: dict[str, Any], name: str, *, where: str = "") -> str | None:
    """A price field written as a JSON number or a string, as a plain decimal string (decimal_text), never a
    float: a float keeps what was written (repr; JSON has no inf or nan) without an exponent ("f": 1e-05)."""
    value = document.get(name)
    if isinstance(value, float):
        return decimal_text(format(Decimal(repr(value)), "f"), where=f"{where}{name}")
    return decimal_text(optional_text(document, name, where=where), where=f"{where}{name}")


def unix_time(value: Any, *, where: str) -> datetime:
    """UNIX seconds (a number or a decimal string) -> aware UTC."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise MalformedCallbackError("invalid_field", f"{where}: must be UNIX seconds")
    try:
        seconds = float(value)
        if not 0 <= seconds < 253402300800:  # year 10000
            raise ValueError("out of range")
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError) as exc:
        raise MalformedCallbackError("invalid_field", f"{where}: must be UNIX seconds") from exc


def decimal_text(value: str | None, *, where: str) -> str | None:
    """A price as a plain decimal string (`-?digits[.digits]`, the schema's pattern), never a float.

    Validated, kept as written. Forms Decimal() would also take (`1e5`, `0.`, `+1`, `1_0`,
    non-ASCII digits) are refused: consumers rely on the shipped schema's pattern.
    """
    if value is None or value == "":
        return None
    text = value.strip()
    if not _PLAIN_DECIMAL.fullmatch(text):
        raise MalformedCallbackError("invalid_field", f"{where}: must be a plain decimal number")
    return text


def count(value: str | None, *, where: str) -> int | None:
    """A small non-negative integer given as text (segments)."""
    if value is None or value == "":
        return None
    text = value.strip()
    if not (text.isdigit() and text.isascii()) or len(text) > 6:
        raise MalformedCallbackError("invalid_field", f"{where}: must be a non-negative integer")
    return int(text)


@functools.lru_cache(maxsize=4096)
def iso_time(text: str, *, where: str) -> datetime:
    """An ISO 8601 time (`2022-08-30T08:16:08.930Z`, `2019-12-09T21:32:14.148+00:00`) -> aware UTC.

    A time without an offset is read as UTC (Sinch and Telnyx document UTC).
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedCallbackError("invalid_field", f"{where}: must be an ISO 8601 time") from exc
    return _as_utc(parsed, UTC, where)


def _as_utc(parsed: datetime, zone: tzinfo, where: str) -> datetime:
    """A parsed time (read in `zone` when it has no offset) in UTC."""
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01 00:00:00 east of UTC
        raise MalformedCallbackError("invalid_field", f"{where}: must be a time within years 1 to 9999") from exc


def form_record(params: Params, read: frozenset[str]) -> dict[str, Any]:
    """Form or query parameters by name: a value, or the list of values of a repeated name; a name the kind
    reads (`read`) given more than once is refused (which one would it mean?)."""
    record: dict[str, Any] = {}
    for name, value in params:
        if name not in record:
            record[name] = value
        elif name in read:
            raise MalformedCallbackError("invalid_field", f"{name}: given more than once")
        else:
            previous = record[name]
            record[name] = [*previous, value] if isinstance(previous, list) else [previous, value]
    return record
