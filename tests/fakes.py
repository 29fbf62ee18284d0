"""A Publisher that keeps records in a list and can be told to fail, for in-process app tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence

from bridge.errors import PublishError
from bridge.kafka.causes import KafkaCause
from bridge.kafka.envelope import KafkaRecord
from bridge.kafka.publisher import Publisher


class FakePublisher:
    """Implements the Publisher protocol in memory.

    publish() stores every record of a call or, when a failure is queued (or `failing` is set),
    stores none of them and raises PublishError: all or nothing, as the protocol promises.
    stall() makes publish() wait (as a broker that does not acknowledge) until release().
    """

    def __init__(self, *, ready: bool = True) -> None:
        self.records: list[KafkaRecord] = []
        self.calls = 0
        self.started = False
        self.stopped = False
        self.failing: PublishError | None = None
        self._ready = ready
        self._queued: list[PublishError] = []
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.waiting = 0  # publish() calls held by stall()
        self.down_cause: KafkaCause | None = None  # `cause` while not ready
        self.failures: Counter[KafkaCause] = Counter()

    @property
    def ready(self) -> bool:
        return self._ready and self.started and not self.stopped

    @property
    def accepting(self) -> bool:
        return self.ready

    @property
    def cause(self) -> KafkaCause | None:
        return None if self.ready else self.down_cause

    @property
    def connect_failures(self) -> Mapping[KafkaCause, int]:
        return self.failures

    def set_ready(self, ready: bool) -> None:
        self._ready = ready

    def fail_next(self, error: PublishError | None = None, times: int = 1) -> None:
        """The next `times` publish() calls raise `error` (default: a retriable broker error)."""
        self._queued.extend([error or PublishError("broker_error", "fake broker refused")] * times)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def stall(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    async def publish(self, records: Sequence[KafkaRecord], *, deadline: float | None = None) -> None:
        self.calls += 1
        if not self._flowing.is_set():
            self.waiting += 1
            try:
                await self._flowing.wait()
            finally:
                self.waiting -= 1
        if self._queued:
            raise self._queued.pop(0)
        if self.failing is not None:
            raise self.failing
        self.records.extend(records)

    def on(self, topic: str) -> list[KafkaRecord]:
        """The records published to one topic, in order."""
        return [r for r in self.records if r.topic == topic]


def _conforms(publisher: FakePublisher) -> Publisher:
    return publisher  # mypy checks that FakePublisher satisfies the protocol
