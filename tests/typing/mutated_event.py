"""Must NOT type-check: changing a record after it was built. bridge/immutable.py's records are plain slotted
dataclasses at run time (a frozen dataclass's setattr per field costs ~2 µs an event); their immutability is
the type checker's to hold. tests/unit/test_typing.py runs mypy on this file and expects exactly the errors
marked below. Excluded from `mypy bridge tests` (pyproject: tool.mypy exclude)."""

from __future__ import annotations

from bridge.events import DeliveryReceipt, InboundMessage, Status
from bridge.http.pipeline import Stored
from bridge.providers.base import RawCallback, Verified
from bridge.providers.nxcloud import NxCloudVerified


def rewrite(receipt: DeliveryReceipt, message: InboundMessage, raw: RawCallback, verified: Verified,
            nxcloud: NxCloudVerified, stored: Stored) -> None:
    receipt.status = Status.DELIVERED  # MUTATED
    message.text = "changed"  # MUTATED
    raw.body = b"{}"  # MUTATED
    verified.replay_key = None  # MUTATED
    nxcloud.action = "mo"  # MUTATED
    stored.events = []  # MUTATED
