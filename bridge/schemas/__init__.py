"""JSON Schemas of each event type's `data`, shipped as package data."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from bridge.events import EventType


def load(event_type: EventType, version: str = "v1") -> dict[str, Any]:
    """The JSON Schema of `data` for one event type and contract version."""
    text = files(__name__).joinpath(f"{event_type.value}.{version}.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
