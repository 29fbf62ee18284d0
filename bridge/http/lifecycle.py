"""Run state the endpoints share: whether the bridge is draining, and how many callbacks are in flight."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Lifecycle:
    """Set `draining` when shutdown begins: /readyz turns false and new callbacks get a 503."""

    draining: bool = False
    in_flight: int = 0
